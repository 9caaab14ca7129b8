/*
 * The C accelerator of wtvserv.crypto.lzpf (PROTOCOL.md 10.2).
 *
 * It is _lzpf_python.py in C: the same bytes out, the same exceptions with
 * the same messages, taken from that module together with its literal code
 * table, so the table exists once. Every read and write is checked against
 * its buffer, since decode() gets bytes a peer chose. Large inputs are
 * worked on without the GIL.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define WINDOW 8192
#define TABLE_SIZE 4096
#define MAX_MATCH 296
#define LONGEST_DECODABLE_MATCH 297
#define END_MARKER 256
#define SYMBOLS 257
/* Prediction tables keep positions modulo the window, as PROTOCOL.md
 * does: source_of() needs no more. */
#define NO_PREDICTION 0xFFFF
/* Inputs from this size on are coded with the GIL released. */
#define RELEASE_GIL_FROM 32768
/* A literal takes at least 4 bits, a match of up to 297 bytes at least 19:
 * no stream decodes to more than 16 bytes per bit of it. */
#define MOST_BYTES_PER_BIT 16

static uint16_t literal_codes[SYMBOLS];
static uint8_t literal_lengths[SYMBOLS];
/* Indexed by the next 16 bits of a stream: symbol << 5 | code length. */
static uint16_t literal_decoding[1 << 16];
static uint32_t match_codes[MAX_MATCH + 1];
static uint8_t match_code_lengths[MAX_MATCH + 1];

static PyObject *LZPFError;
static PyObject *IncompleteStream;

static inline unsigned
hash_of(const uint8_t *last3)
{
    uint32_t word = (uint32_t)last3[0] << 16 | (uint32_t)last3[1] << 8 | last3[2];
    return ((word >> 11) ^ word) & (TABLE_SIZE - 1);
}

/* The position whose byte the ring slot of `predicted` (a position modulo
 * the window) holds at `position`. */
static inline Py_ssize_t
source_of(Py_ssize_t position, uint16_t predicted)
{
    return position - ((position - predicted - 1) & (WINDOW - 1)) - 1;
}

static inline uint16_t
slot_of(Py_ssize_t position)
{
    return (uint16_t)(position & (WINDOW - 1));
}

/* -- Encoder ------------------------------------------------------------ */

typedef struct {
    uint8_t *out;
    Py_ssize_t used;
    Py_ssize_t capacity;
    uint64_t bits;      /* the low `pending` bits are not yet in out */
    int pending;
    int overflow;
} BitWriter;

static inline void
put_byte(BitWriter *writer, uint8_t byte)
{
    if (writer->used < writer->capacity) {
        writer->out[writer->used++] = byte;
    }
    else {
        writer->overflow = 1;
    }
}

/* Append the `length` (at most 32) low bits of `code`, highest first. */
static inline void
put_bits(BitWriter *writer, uint32_t code, int length)
{
    writer->bits = writer->bits << length | code;
    writer->pending += length;
    while (writer->pending >= 8) {
        writer->pending -= 8;
        put_byte(writer, (uint8_t)(writer->bits >> writer->pending));
    }
}

/* How many bytes from `position` on (at most `limit`) repeat those from
 * `source` on; the ranges may overlap, which makes a run. */
static inline Py_ssize_t
common_length(const uint8_t *data, Py_ssize_t source, Py_ssize_t position,
              Py_ssize_t limit)
{
    Py_ssize_t length = 0;
    while (length < limit && data[source + length] == data[position + length]) {
        length++;
    }
    return length;
}

static void
encode(const uint8_t *data, Py_ssize_t size, BitWriter *writer)
{
    uint16_t table[TABLE_SIZE];
    Py_ssize_t position;
    uint32_t checksum = 0;
    int end_length;

    memset(table, 0xFF, sizeof table);
    for (position = 0; position < size && position < 3; position++) {
        put_bits(writer, literal_codes[data[position]],
                 literal_lengths[data[position]]);
    }
    while (position < size) {
        unsigned slot = hash_of(data + position - 3);
        uint16_t predicted = table[slot];
        uint8_t byte = data[position];

        table[slot] = slot_of(position);
        if (predicted == NO_PREDICTION) {
            put_bits(writer, literal_codes[byte], literal_lengths[byte]);
            position++;
            continue;
        }
        Py_ssize_t source = source_of(position, predicted);
        if (data[source] != byte) {
            /* A 0 flag bit, then the literal. */
            put_bits(writer, literal_codes[byte], literal_lengths[byte] + 1);
            position++;
            continue;
        }
        Py_ssize_t limit = size - position < MAX_MATCH ? size - position : MAX_MATCH;
        Py_ssize_t run = common_length(data, source, position, limit);
        put_bits(writer, match_codes[run], match_code_lengths[run]);
        position += run;
    }
    if (size >= 2) {
        end_length = literal_lengths[END_MARKER];
        if (size >= 3 && table[hash_of(data + size - 3)] != NO_PREDICTION) {
            end_length++;
        }
        put_bits(writer, literal_codes[END_MARKER], end_length);
    }
    for (position = 0; position < size; position++) {
        checksum += data[position];
    }
    put_bits(writer, checksum & 0xFFFF, 16);
    if (writer->pending) {
        put_bits(writer, 0, 8 - writer->pending);
    }
    put_byte(writer, 0);
}

static PyObject *
lzpf_compress(PyObject *module, PyObject *argument)
{
    Py_buffer input;
    BitWriter writer = {0};
    PyObject *result = NULL;

    (void)module;
    if (PyObject_GetBuffer(argument, &input, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    /* At most 17 bits a byte (a flagged 16-bit literal), a flagged end
     * marker, the checksum, the padding and the 00 byte. */
    if (input.len / 8 + 1 > (PY_SSIZE_T_MAX - 8) / 17) {
        PyErr_NoMemory();
        goto done;
    }
    writer.capacity = (input.len / 8 + 1) * 17 + 8;
    writer.out = PyMem_RawMalloc(writer.capacity);
    if (writer.out == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (input.len >= RELEASE_GIL_FROM) {
        Py_BEGIN_ALLOW_THREADS
        encode(input.buf, input.len, &writer);
        Py_END_ALLOW_THREADS
    }
    else {
        encode(input.buf, input.len, &writer);
    }
    if (writer.overflow) {
        PyErr_SetString(PyExc_SystemError, "LZPF encoder overran its buffer");
    }
    else {
        result = PyBytes_FromStringAndSize((const char *)writer.out, writer.used);
    }
done:
    PyMem_RawFree(writer.out);
    PyBuffer_Release(&input);
    return result;
}

/* -- Decoder ------------------------------------------------------------ */

typedef struct {
    const uint8_t *data;
    Py_ssize_t size;
    uint64_t position;  /* the next bit; past the input, bits read as 0 */
} BitReader;

static inline uint32_t
peek32(const BitReader *reader)
{
    uint64_t start = reader->position >> 3;
    uint64_t window = 0;
    int i;

    if (start + 8 <= (uint64_t)reader->size) {
        const uint8_t *bytes = reader->data + start;
        for (i = 0; i < 8; i++) {
            window = window << 8 | bytes[i];
        }
    }
    else {
        for (i = 0; i < 8; i++) {
            uint64_t index = start + i;
            window = window << 8 | (index < (uint64_t)reader->size ? reader->data[index] : 0);
        }
    }
    return (uint32_t)((window << (reader->position & 7)) >> 32);
}

static inline uint32_t
read_bits(BitReader *reader, int count)
{
    uint32_t value = count ? peek32(reader) >> (32 - count) : 0;
    reader->position += count;
    return value;
}

typedef enum {
    DECODED,
    CUT_SHORT,
    END_TOO_EARLY,
    NO_END_MARKER,
    MATCH_TOO_LONG,
    BAD_CHECKSUM,
    BAD_ENDING,
    OVERRAN,
} Outcome;

/* The length of the match whose code (flag included) `bits` begin with;
 * sets *size to the number of bits that code takes. */
static inline Py_ssize_t
match_length(uint32_t bits, int *size)
{
    uint32_t extra;

    if (bits >> 29 != 7) {
        *size = 3;
        return (bits >> 29) - 3;
    }
    extra = (bits >> 26) & 7;
    if (extra != 7) {
        *size = 6;
        return 4 + extra;
    }
    extra = (bits >> 21) & 31;
    if (extra != 31) {
        *size = 11;
        return 11 + extra;
    }
    *size = 19;
    return 42 + ((bits >> 13) & 0xFF);
}

static Outcome
decode_events(BitReader *reader, uint8_t *out, Py_ssize_t capacity,
              Py_ssize_t expected, Py_ssize_t *produced_at)
{
    uint16_t table[TABLE_SIZE];
    Py_ssize_t produced = 0;
    uint64_t available = (uint64_t)reader->size * 8;

    memset(table, 0xFF, sizeof table);
    for (;;) {
        uint16_t predicted = NO_PREDICTION;
        uint32_t bits;
        int size;

        *produced_at = produced;
        if (produced >= 3) {
            unsigned slot = hash_of(out + produced - 3);
            predicted = table[slot];
            table[slot] = slot_of(produced);
        }
        if (produced == expected && expected < 2) {
            return DECODED;  /* such short streams carry no end marker */
        }
        bits = peek32(reader);
        if (predicted != NO_PREDICTION) {
            if (bits >> 31) {
                Py_ssize_t length = match_length(bits, &size);
                reader->position += size;
                if (reader->position > available) {
                    return CUT_SHORT;
                }
                if (produced == expected) {
                    return NO_END_MARKER;
                }
                if (length > expected - produced) {
                    return MATCH_TOO_LONG;
                }
                if (length > capacity - produced) {
                    return OVERRAN;
                }
                Py_ssize_t source = source_of(produced, predicted);
                for (Py_ssize_t k = 0; k < length; k++) {
                    out[produced + k] = out[source + k];
                }
                produced += length;
                continue;
            }
            bits <<= 1;
            reader->position += 1;
        }
        uint16_t entry = literal_decoding[bits >> 16];
        unsigned symbol = entry >> 5;
        reader->position += entry & 31;
        if (reader->position > available) {
            return CUT_SHORT;
        }
        if (symbol == END_MARKER) {
            return produced == expected ? DECODED : END_TOO_EARLY;
        }
        if (produced == expected) {
            return NO_END_MARKER;
        }
        if (produced >= capacity) {
            return OVERRAN;
        }
        out[produced++] = (uint8_t)symbol;
    }
}

/* Decode the events, then check the checksum, padding and final 00 byte. */
static Outcome
decode_stream(BitReader *reader, uint8_t *out, Py_ssize_t capacity,
              Py_ssize_t expected, Py_ssize_t *produced)
{
    Outcome outcome = decode_events(reader, out, capacity, expected, produced);
    uint32_t checksum = 0, stored, padding, final_byte;
    Py_ssize_t i;

    if (outcome != DECODED) {
        return outcome;
    }
    stored = read_bits(reader, 16);
    padding = read_bits(reader, (int)(-reader->position & 7));
    final_byte = read_bits(reader, 8);
    if (reader->position > (uint64_t)reader->size * 8) {
        return CUT_SHORT;
    }
    for (i = 0; i < *produced; i++) {
        checksum += out[i];
    }
    if (stored != (checksum & 0xFFFF)) {
        return BAD_CHECKSUM;
    }
    if (padding || final_byte) {
        return BAD_ENDING;
    }
    return DECODED;
}

/* Raise what _lzpf_python would for `outcome`. */
static void
raise_outcome(Outcome outcome, Py_ssize_t produced, PyObject *expected)
{
    switch (outcome) {
    case CUT_SHORT:
        PyErr_SetString(IncompleteStream, "LZPF stream is cut short");
        break;
    case END_TOO_EARLY:
        PyErr_Format(LZPFError, "end marker after %zd of %S bytes", produced, expected);
        break;
    case NO_END_MARKER:
        PyErr_SetString(LZPFError, "no end marker after the expected length");
        break;
    case MATCH_TOO_LONG:
        PyErr_SetString(LZPFError, "match runs past the expected length");
        break;
    case BAD_CHECKSUM:
        PyErr_SetString(LZPFError, "LZPF checksum does not match the decoded bytes");
        break;
    case BAD_ENDING:
        PyErr_SetString(LZPFError, "LZPF stream does not end in zero bits and a 00 byte");
        break;
    default:
        PyErr_SetString(PyExc_SystemError, "LZPF decoder overran its buffer");
    }
}

/* Decode one stream at the start of `data`: a new reference to the decoded
 * bytes, with the number of bytes of data the stream took and the number
 * data has; or NULL with an exception set. */
static PyObject *
decode_prefix(PyObject *data, PyObject *expected_object, Py_ssize_t *used,
              Py_ssize_t *size)
{
    Py_buffer input;
    BitReader reader;
    PyObject *output = NULL;
    Py_ssize_t expected, capacity, produced = 0;
    Outcome outcome;
    int overflow;

    long long value = PyLong_AsLongLongAndOverflow(expected_object, &overflow);
    if (value == -1 && PyErr_Occurred()) {
        return NULL;
    }
    expected = value > PY_SSIZE_T_MAX ? PY_SSIZE_T_MAX : (Py_ssize_t)value;
    if (overflow > 0) {
        expected = PY_SSIZE_T_MAX;  /* beyond any output: the stream fails */
    }
    else if (overflow < 0 || expected < 0) {
        PyErr_SetString(PyExc_ValueError, "expected length must not be negative");
        return NULL;
    }
    if (PyObject_GetBuffer(data, &input, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    capacity = expected;
    if (input.len + 1 < expected / (8 * MOST_BYTES_PER_BIT)) {
        capacity = (input.len + 1) * 8 * MOST_BYTES_PER_BIT;
    }
    output = PyBytes_FromStringAndSize(NULL, capacity);
    if (output == NULL) {
        goto done;
    }
    reader.data = input.buf;
    reader.size = input.len;
    reader.position = 0;
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(output);
    if (input.len >= RELEASE_GIL_FROM) {
        Py_BEGIN_ALLOW_THREADS
        outcome = decode_stream(&reader, out, capacity, expected, &produced);
        Py_END_ALLOW_THREADS
    }
    else {
        outcome = decode_stream(&reader, out, capacity, expected, &produced);
    }
    if (outcome != DECODED) {
        raise_outcome(outcome, produced, expected_object);
        Py_CLEAR(output);
        goto done;
    }
    if (produced != capacity && _PyBytes_Resize(&output, produced) < 0) {
        goto done;
    }
    *used = (Py_ssize_t)(reader.position >> 3);
    *size = input.len;
done:
    PyBuffer_Release(&input);
    return output;
}

/* decode_prefix() on the (data, expected_length) arguments of `function`. */
static PyObject *
decode_arguments(const char *function, PyObject *const *args, Py_ssize_t nargs,
                 Py_ssize_t *used, Py_ssize_t *size)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "%s() takes data and expected_length", function);
        return NULL;
    }
    return decode_prefix(args[0], args[1], used, size);
}

static PyObject *
lzpf_decode(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t used, size;
    PyObject *output = decode_arguments("decode", args, nargs, &used, &size);

    (void)module;
    return output == NULL ? NULL : Py_BuildValue("(Nn)", output, used);
}

static PyObject *
lzpf_decompress(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t used, size;
    PyObject *output = decode_arguments("decompress", args, nargs, &used, &size);

    (void)module;
    if (output != NULL && used != size) {
        PyErr_Format(LZPFError, "%zd bytes follow the LZPF stream", size - used);
        Py_CLEAR(output);
    }
    return output;
}

/* -- Module ------------------------------------------------------------- */

/* Fill the literal tables from _lzpf_python's, checking they are a code. */
static int
load_literal_code(PyObject *pure)
{
    PyObject *codes = PyObject_GetAttrString(pure, "_LITERAL_CODES");
    PyObject *lengths = PyObject_GetAttrString(pure, "_LITERAL_LENGTHS");
    int result = -1;
    Py_ssize_t symbol;

    if (codes == NULL || lengths == NULL) {
        goto done;
    }
    if (!PyList_Check(codes) || !PyList_Check(lengths)
            || PyList_GET_SIZE(codes) != SYMBOLS || PyList_GET_SIZE(lengths) != SYMBOLS) {
        PyErr_SetString(PyExc_ImportError, "the pure LZPF code table is not 257 codes");
        goto done;
    }
    for (symbol = 0; symbol < SYMBOLS; symbol++) {
        long code = PyLong_AsLong(PyList_GET_ITEM(codes, symbol));
        long length = PyLong_AsLong(PyList_GET_ITEM(lengths, symbol));
        if (PyErr_Occurred()) {
            goto done;
        }
        if (length < 1 || length > 16 || code < 0 || code >= (1L << length)) {
            PyErr_SetString(PyExc_ImportError, "the pure LZPF code table is not a code");
            goto done;
        }
        literal_codes[symbol] = (uint16_t)code;
        literal_lengths[symbol] = (uint8_t)length;
        long first = code << (16 - length), count = 1L << (16 - length);
        for (long i = first; i < first + count; i++) {
            literal_decoding[i] = (uint16_t)(symbol << 5 | length);
        }
    }
    result = 0;
done:
    Py_XDECREF(codes);
    Py_XDECREF(lengths);
    return result;
}

/* The match-length codes of PROTOCOL.md 10.2, the leading 1 flag included. */
static void
make_match_codes(void)
{
    for (uint32_t length = 1; length <= MAX_MATCH; length++) {
        if (length <= 3) {
            match_codes[length] = 4 + length - 1;
            match_code_lengths[length] = 3;
        }
        else if (length <= 10) {
            match_codes[length] = 7u << 3 | (length - 4);
            match_code_lengths[length] = 6;
        }
        else if (length <= 41) {
            match_codes[length] = 0x3Fu << 5 | (length - 11);
            match_code_lengths[length] = 11;
        }
        else {
            match_codes[length] = 0x7FFu << 8 | (length - 42);
            match_code_lengths[length] = 19;
        }
    }
}

static PyMethodDef lzpf_methods[] = {
    {"compress", (PyCFunction)lzpf_compress, METH_O,
     "compress(data) -> the LZPF stream of data, end marker, checksum and final 00 included."},
    {"decode", (PyCFunction)(void (*)(void))lzpf_decode, METH_FASTCALL,
     "decode(data, expected_length) -> (decoded bytes, bytes of data the stream took)."},
    {"decompress", (PyCFunction)(void (*)(void))lzpf_decompress, METH_FASTCALL,
     "decompress(data, expected_length) -> the bytes of data, exactly one LZPF stream."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef lzpf_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "wtvserv.crypto._lzpf_c",
    .m_doc = "The C accelerator of wtvserv.crypto.lzpf: the codec of _lzpf_python.",
    .m_size = -1,
    .m_methods = lzpf_methods,
};

PyMODINIT_FUNC
PyInit__lzpf_c(void)
{
    PyObject *pure = PyImport_ImportModule("wtvserv.crypto._lzpf_python");
    PyObject *module = NULL;

    if (pure == NULL) {
        return NULL;
    }
    if (load_literal_code(pure) < 0) {
        goto done;
    }
    make_match_codes();
    Py_XSETREF(LZPFError, PyObject_GetAttrString(pure, "LZPFError"));
    Py_XSETREF(IncompleteStream, PyObject_GetAttrString(pure, "IncompleteStream"));
    if (LZPFError == NULL || IncompleteStream == NULL) {
        goto done;
    }
    module = PyModule_Create(&lzpf_module);
done:
    Py_DECREF(pure);
    return module;
}
