/*
 * The C accelerator of wtvserv.wire: reading a request head and writing a
 * response head, the two pieces of WTVP framing every request goes through.
 *
 * It is wire.py's _readHeadPython and _formatHeadPython in C: the same
 * results, and the same WireError (status and message) at the same point
 * of the same input. Heads are latin-1, so a byte is a character and
 * Python's str methods become tests on bytes: str.isspace() is
 * is_space(), str.isprintable() is is_printable(). Nothing is copied into
 * fixed-size buffers; every size comes from the input or from Limits.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

typedef unsigned char byte;

typedef struct {
    Py_ssize_t requestLine;
    Py_ssize_t headerCount;
    Py_ssize_t headerBlock;
    Py_ssize_t body;
} Limits;

static PyObject *WireError;     /* wtvserv.wire.WireError, found at first use */
static PyObject *SECURE_ON, *EMPTY, *GET, *POST, *PUT;
static PyObject *REQUEST_LINE, *HEADER_COUNT, *HEADER_BLOCK, *BODY;
static PyObject *STATUS, *REASON, *CLOSE, *HEADERS, *CONTENT_TYPE;

static const char TOO_LONG[] = "The address requested was too long.";
static const char TOO_LARGE[] = "The request headers were too large.";
static const char TOO_MANY[] = "The request had too many headers.";
static const char NOT_UNDERSTOOD[] = "The request was not understood.";
static const char MALFORMED[] = "The request had a malformed header.";
static const char BAD_LENGTH[] = "The request had an invalid Content-length.";
static const char BODY_TOO_LARGE[] = "The data sent was too large.";

/* -- Characters ------------------------------------------------------ */

/* str.isspace() of a latin-1 character. */
static inline int
is_space(byte c)
{
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0;
}

/* str.isprintable() of a latin-1 character. */
static inline int
is_printable(byte c)
{
    return (c >= 0x20 && c <= 0x7E) || (c >= 0xA1 && c != 0xAD);
}

/* A character of wire.py's _HEADER_NAME. */
static inline int
is_token(byte c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
        || (c != 0 && strchr("!#$%&'*+.^_`|~-", c) != NULL);
}

static inline byte
ascii_lower(byte c)
{
    return c >= 'A' && c <= 'Z' ? (byte)(c + 32) : c;
}

/* Whether data[0:length] is `word` (lower-case ASCII) in any case. */
static int
equals_ignoring_case(const byte *data, Py_ssize_t length, const char *word)
{
    Py_ssize_t i;

    if (length != (Py_ssize_t)strlen(word)) {
        return 0;
    }
    for (i = 0; i < length; i++) {
        if (ascii_lower(data[i]) != (byte)word[i]) {
            return 0;
        }
    }
    return 1;
}

/* Narrow [*start, *end) to what str.strip() keeps. */
static void
strip(const byte *data, Py_ssize_t *start, Py_ssize_t *end)
{
    while (*start < *end && is_space(data[*start])) {
        (*start)++;
    }
    while (*end > *start && is_space(data[*end - 1])) {
        (*end)--;
    }
}

/* -- Errors ------------------------------------------------------------ */

/* Raise WireError(status, message); always returns NULL. */
static PyObject *
wire_error(int status, const char *message)
{
    PyObject *error;

    if (WireError == NULL) {
        PyObject *wire = PyImport_ImportModule("wtvserv.wire");
        if (wire == NULL) {
            return NULL;
        }
        WireError = PyObject_GetAttrString(wire, "WireError");
        Py_DECREF(wire);
        if (WireError == NULL) {
            return NULL;
        }
    }
    error = PyObject_CallFunction(WireError, "is", status, message);
    if (error != NULL) {
        PyErr_SetObject(WireError, error);
        Py_DECREF(error);
    }
    return NULL;
}

/* -- Reading a head ---------------------------------------------------- */

/*
 * Where the head ends: the earliest end of a CRLFCRLF, LF CRLF or LFLF
 * that starts at `start` or later, CRLFCRLF first where two end together
 * (wire._findHeaderEnd). All three end in LF.
 */
static int
find_head_end(const byte *data, Py_ssize_t size, Py_ssize_t start,
              Py_ssize_t *head_end, Py_ssize_t *body_start)
{
    Py_ssize_t at = start;

    while (at < size) {
        const byte *lf = memchr(data + at, '\n', (size_t)(size - at));
        if (lf == NULL) {
            return 0;
        }
        Py_ssize_t j = lf - data;
        *body_start = j + 1;
        if (j - 3 >= start && memcmp(data + j - 3, "\r\n\r\n", 4) == 0) {
            *head_end = j - 3;
            return 1;
        }
        if (j - 2 >= start && memcmp(data + j - 2, "\n\r\n", 3) == 0) {
            *head_end = j - 2;
            return 1;
        }
        if (j - 1 >= start && data[j - 1] == '\n') {
            *head_end = j - 1;
            return 1;
        }
        at = j + 1;
    }
    return 0;
}

/* wire._checkIncompleteHead: 0, or -1 with WireError raised. */
static int
check_incomplete_head(const byte *data, Py_ssize_t size, const Limits *limits)
{
    Py_ssize_t content = size;

    while (size - content < 3 && content > 0
           && (data[content - 1] == '\r' || data[content - 1] == '\n')) {
        content--;
    }
    if (memchr(data, '\n', (size_t)size) == NULL && content > limits->requestLine) {
        wire_error(414, TOO_LONG);
        return -1;
    }
    if (content > limits->headerBlock) {
        wire_error(400, TOO_LARGE);
        return -1;
    }
    return 0;
}

/*
 * wire._parseRequestLine of line[0:length]: new references to the method
 * and the URL in *method and *url, or -1 with WireError raised.
 */
static int
parse_request_line(const byte *line, Py_ssize_t length, PyObject **method, PyObject **url)
{
    const byte *space;
    Py_ssize_t start, end, i;

    if (equals_ignoring_case(line, length, "secure on")) {
        *method = Py_NewRef(SECURE_ON);
        *url = Py_NewRef(EMPTY);
        return 0;
    }
    space = memchr(line, ' ', (size_t)length);
    if (space == NULL) {
        wire_error(400, NOT_UNDERSTOOD);
        return -1;
    }
    if (equals_ignoring_case(line, space - line, "get")) {
        *method = GET;
    }
    else if (equals_ignoring_case(line, space - line, "post")) {
        *method = POST;
    }
    else if (equals_ignoring_case(line, space - line, "put")) {
        *method = PUT;
    }
    else {
        wire_error(400, NOT_UNDERSTOOD);
        return -1;
    }
    start = space - line + 1;
    end = length;
    strip(line, &start, &end);
    /* _HTTP_SUFFIX: whitespace, HTTP/, digits, a dot, digits, the end. */
    i = end;
    while (i > start && line[i - 1] >= '0' && line[i - 1] <= '9') {
        i--;
    }
    if (i < end && i - 1 > start && line[i - 1] == '.') {
        Py_ssize_t dot = --i;
        while (i > start && line[i - 1] >= '0' && line[i - 1] <= '9') {
            i--;
        }
        if (i < dot && i - 5 > start && memcmp(line + i - 5, "HTTP/", 5) == 0
                && is_space(line[i - 6])) {
            i -= 6;
            while (is_space(line[i - 1])) {     /* line[start] is not a space */
                i--;
            }
            end = i;
        }
    }
    if (start == end) {
        wire_error(400, NOT_UNDERSTOOD);
        return -1;
    }
    for (i = start; i < end; i++) {
        if (line[i] == ' ' || !is_printable(line[i])) {
            wire_error(400, NOT_UNDERSTOOD);
            return -1;
        }
    }
    *url = PyUnicode_DecodeLatin1((const char *)line + start, end - start, NULL);
    if (*url == NULL) {
        return -1;
    }
    Py_INCREF(*method);
    return 0;
}

/* A str of data[0:length], all ASCII. */
static PyObject *
ascii_text(const byte *data, Py_ssize_t length)
{
    PyObject *text = PyUnicode_New(length, 127);

    if (text != NULL) {
        memcpy(PyUnicode_1BYTE_DATA(text), data, (size_t)length);
    }
    return text;
}

/* The lower-cased name, a new reference (the name itself where it is). */
static PyObject *
lower_name(PyObject *name, const byte *data, Py_ssize_t length)
{
    Py_ssize_t i;
    PyObject *lowered;

    for (i = 0; i < length && !(data[i] >= 'A' && data[i] <= 'Z'); i++) {
    }
    if (i == length) {
        return Py_NewRef(name);
    }
    lowered = PyUnicode_New(length, 127);
    if (lowered != NULL) {
        Py_UCS1 *out = PyUnicode_1BYTE_DATA(lowered);
        for (i = 0; i < length; i++) {
            out[i] = ascii_lower(data[i]);
        }
    }
    return lowered;
}

/*
 * One header line, line[0:length]: put in items[index] and, where it is
 * its name's first, in first. [*value_start, *value_end) is where its
 * value is in the line; *is_length whether its name is Content-length.
 * 0, or -1 with an error set.
 */
static int
parse_header(const byte *line, Py_ssize_t length, PyObject *items, Py_ssize_t index,
             PyObject *first, Py_ssize_t *value_start, Py_ssize_t *value_end,
             int *is_length)
{
    const byte *colon = memchr(line, ':', (size_t)length);
    Py_ssize_t name_start = 0, name_end, i;
    PyObject *name, *value, *item, *key;
    int result = -1;

    if (colon == NULL) {
        wire_error(400, MALFORMED);
        return -1;
    }
    name_end = colon - line;
    strip(line, &name_start, &name_end);
    if (name_start == name_end) {
        wire_error(400, MALFORMED);
        return -1;
    }
    for (i = name_start; i < name_end; i++) {
        if (!is_token(line[i])) {
            wire_error(400, MALFORMED);
            return -1;
        }
    }
    *value_start = colon - line + 1;
    *value_end = length;
    strip(line, value_start, value_end);
    *is_length = equals_ignoring_case(line + name_start, name_end - name_start,
                                      "content-length");

    name = ascii_text(line + name_start, name_end - name_start);
    value = name ? PyUnicode_DecodeLatin1((const char *)line + *value_start,
                                          *value_end - *value_start, NULL) : NULL;
    item = value ? PyTuple_Pack(2, name, value) : NULL;
    if (item == NULL) {
        goto done;
    }
    PyList_SET_ITEM(items, index, item);    /* the list takes it */
    key = lower_name(name, line + name_start, name_end - name_start);
    if (key == NULL) {
        goto done;
    }
    if (PyDict_SetDefault(first, key, value) != NULL) {
        result = 0;
    }
    Py_DECREF(key);
done:
    Py_XDECREF(name);
    Py_XDECREF(value);
    return result;
}

/* wire._bodyLength of value[0:length]: the length, or -1 with WireError. */
static Py_ssize_t
body_length(const byte *value, Py_ssize_t length, const Limits *limits)
{
    Py_ssize_t i, parsed = 0;

    if (length == 0) {
        wire_error(400, BAD_LENGTH);
        return -1;
    }
    for (i = 0; i < length; i++) {
        if (value[i] < '0' || value[i] > '9') {
            wire_error(400, BAD_LENGTH);
            return -1;
        }
    }
    /* Stop at the first digits that are over the limit already, before
     * the number could overflow; every length is over a negative one. */
    for (i = 0; i < length; i++) {
        Py_ssize_t digit = value[i] - '0';
        if (limits->body - digit < 0 || parsed > (limits->body - digit) / 10) {
            wire_error(413, BODY_TOO_LARGE);
            return -1;
        }
        parsed = parsed * 10 + digit;
    }
    return parsed;
}

/*
 * wire._readHeadPython on data[0:size]: None while the head is
 * incomplete, else (body start, method, URL, items, first values, body
 * length).
 */
static PyObject *
read_head(const byte *data, Py_ssize_t size, Py_ssize_t scanned, const Limits *limits)
{
    Py_ssize_t head_end, body_start, line_end, at, count = 0, index = 0;
    Py_ssize_t value_start, value_end, length_start = 0, length_end = -1, body = 0;
    PyObject *method = NULL, *url = NULL, *items = NULL, *first = NULL, *result = NULL;
    const byte *lf;

    if (!find_head_end(data, size, scanned > 3 ? scanned - 3 : 0, &head_end, &body_start)) {
        if (check_incomplete_head(data, size, limits) < 0) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    if (head_end > limits->headerBlock) {
        return wire_error(400, TOO_LARGE);
    }
    lf = memchr(data, '\n', (size_t)head_end);
    line_end = lf == NULL ? head_end : lf - data;
    at = line_end;
    while (at > 0 && data[at - 1] == '\r') {
        at--;
    }
    if (at > limits->requestLine) {
        return wire_error(414, TOO_LONG);
    }
    for (lf = data; (lf = memchr(lf, '\n', (size_t)(data + head_end - lf))) != NULL; lf++) {
        count++;
    }
    if (count > limits->headerCount) {
        return wire_error(400, TOO_MANY);
    }
    if (parse_request_line(data, at, &method, &url) < 0) {
        return NULL;
    }
    items = PyList_New(count);
    first = PyDict_New();
    if (items == NULL || first == NULL) {
        goto done;
    }
    for (at = line_end + 1; at <= head_end; at = line_end + 1) {
        const byte *line = data + at;
        int is_length;

        lf = memchr(line, '\n', (size_t)(head_end - at));
        line_end = lf == NULL ? head_end : lf - data;
        if (parse_header(line, line_end - at, items, index++, first,
                         &value_start, &value_end, &is_length) < 0) {
            goto done;
        }
        if (is_length && length_end < 0) {
            length_start = at + value_start;
            length_end = at + value_end;
        }
    }
    if (method != SECURE_ON && length_end >= 0) {
        body = body_length(data + length_start, length_end - length_start, limits);
        if (body < 0) {
            goto done;
        }
    }
    result = Py_BuildValue("nOOOOn", body_start, method, url, items, first, body);
done:
    Py_XDECREF(method);
    Py_XDECREF(url);
    Py_XDECREF(items);
    Py_XDECREF(first);
    return result;
}

/* The limits of a wire.Limits; 0, or -1 with an error set. */
static int
limits_of(PyObject *object, Limits *limits)
{
    PyObject *const names[] = {REQUEST_LINE, HEADER_COUNT, HEADER_BLOCK, BODY};
    Py_ssize_t *const fields[] = {&limits->requestLine, &limits->headerCount,
                                  &limits->headerBlock, &limits->body};
    size_t i;

    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        PyObject *value = PyObject_GetAttr(object, names[i]);
        if (value == NULL) {
            return -1;
        }
        *fields[i] = PyLong_AsSsize_t(value);
        Py_DECREF(value);
        if (*fields[i] == -1 && PyErr_Occurred()) {
            return -1;
        }
    }
    return 0;
}

static PyObject *
wire_read_head(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    Py_ssize_t scanned;
    Limits limits;
    PyObject *result;

    (void)module;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "readHead() takes buffer, scanned and limits");
        return NULL;
    }
    scanned = PyLong_AsSsize_t(args[1]);
    if ((scanned == -1 && PyErr_Occurred()) || limits_of(args[2], &limits) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    result = read_head(view.buf, view.len, scanned, &limits);
    PyBuffer_Release(&view);
    return result;
}

/* -- Writing a head ---------------------------------------------------- */

/*
 * A head's text goes out as latin-1, each character that cannot be one
 * byte as "?", each CR, LF and NUL in a value as a space (wire._clean).
 */
static byte *
put_text(byte *out, PyObject *text)
{
    Py_ssize_t i, length = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);

    for (i = 0; i < length; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        *out++ = c == '\r' || c == '\n' || c == 0 ? ' ' : c > 0xFF ? '?' : (byte)c;
    }
    return out;
}

static byte *
put_literal(byte *out, const char *text)
{
    size_t length = strlen(text);
    memcpy(out, text, length);
    return out + length;
}

/* Whether item is a (str, str) tuple. */
static int
is_plain_header(PyObject *item)
{
    return PyTuple_CheckExact(item) && PyTuple_GET_SIZE(item) == 2
        && PyUnicode_CheckExact(PyTuple_GET_ITEM(item, 0))
        && PyUnicode_CheckExact(PyTuple_GET_ITEM(item, 1));
}

/* The head's size in bytes for the headers of a list or tuple; -1 where
 * one is not a (str, str) tuple. */
static Py_ssize_t
headers_size(PyObject *headers)
{
    Py_ssize_t i, size = 0, count = PySequence_Fast_GET_SIZE(headers);

    for (i = 0; i < count; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(headers, i);
        if (!is_plain_header(item)) {
            return -1;
        }
        size += PyUnicode_GET_LENGTH(PyTuple_GET_ITEM(item, 0))
            + PyUnicode_GET_LENGTH(PyTuple_GET_ITEM(item, 1)) + 3;
    }
    return size;
}

static byte *
put_headers(byte *out, PyObject *headers)
{
    Py_ssize_t i, count = PySequence_Fast_GET_SIZE(headers);

    for (i = 0; i < count; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(headers, i);
        out = put_text(out, PyTuple_GET_ITEM(item, 0));
        out = put_literal(out, ": ");
        out = put_text(out, PyTuple_GET_ITEM(item, 1));
        *out++ = '\n';
    }
    return out;
}

/*
 * wire._formatHeadPython(response, coreHeaders, length), or None where
 * the response holds anything but ints and strs where they belong.
 */
static PyObject *
format_head(PyObject *response, PyObject *core, PyObject *length)
{
    PyObject *status = NULL, *reason = NULL, *close = NULL, *headers = NULL;
    PyObject *contentType = NULL, *statusText = NULL, *lengthText = NULL, *result = NULL;
    int closing;
    const char *connection;
    Py_ssize_t coreSize, headersSize, size;
    byte *out;

    status = PyObject_GetAttr(response, STATUS);
    reason = status ? PyObject_GetAttr(response, REASON) : NULL;
    close = reason ? PyObject_GetAttr(response, CLOSE) : NULL;
    headers = close ? PyObject_GetAttr(response, HEADERS) : NULL;
    contentType = headers ? PyObject_GetAttr(response, CONTENT_TYPE) : NULL;
    if (contentType == NULL) {
        goto done;
    }
    if (!PyLong_CheckExact(status) || !PyLong_CheckExact(length)
            || !PyUnicode_CheckExact(reason) || !PyUnicode_CheckExact(contentType)
            || !(PyList_CheckExact(core) || PyTuple_CheckExact(core))
            || !(PyList_CheckExact(headers) || PyTuple_CheckExact(headers))) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    closing = PyObject_IsTrue(close);
    if (closing < 0) {
        goto done;
    }
    connection = closing ? "Connection: close\n" : "Connection: Keep-Alive\n";
    coreSize = headers_size(core);
    headersSize = headers_size(headers);
    if (coreSize < 0 || headersSize < 0) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    statusText = PyObject_Str(status);
    lengthText = statusText ? PyObject_Str(length) : NULL;
    if (lengthText == NULL) {
        goto done;
    }
    size = PyUnicode_GET_LENGTH(statusText) + 1 + PyUnicode_GET_LENGTH(reason) + 1
        + (Py_ssize_t)strlen(connection) + coreSize + headersSize
        + 14 + PyUnicode_GET_LENGTH(contentType) + 1
        + 16 + PyUnicode_GET_LENGTH(lengthText) + 2;
    result = PyBytes_FromStringAndSize(NULL, size);
    if (result == NULL) {
        goto done;
    }
    out = (byte *)PyBytes_AS_STRING(result);
    out = put_text(out, statusText);
    *out++ = ' ';
    out = put_text(out, reason);
    *out++ = '\n';
    out = put_literal(out, connection);
    out = put_headers(out, core);
    out = put_headers(out, headers);
    out = put_literal(out, "Content-type: ");
    out = put_text(out, contentType);
    out = put_literal(out, "\nContent-length: ");
    out = put_text(out, lengthText);
    out = put_literal(out, "\n\n");
    assert(out == (byte *)PyBytes_AS_STRING(result) + size);
done:
    Py_XDECREF(status);
    Py_XDECREF(reason);
    Py_XDECREF(close);
    Py_XDECREF(headers);
    Py_XDECREF(contentType);
    Py_XDECREF(statusText);
    Py_XDECREF(lengthText);
    return result;
}

static PyObject *
wire_format_head(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "formatHead() takes response, coreHeaders and length");
        return NULL;
    }
    return format_head(args[0], args[1], args[2]);
}

/* -- Module ------------------------------------------------------------ */

static PyMethodDef wire_methods[] = {
    {"readHead", (PyCFunction)(void (*)(void))wire_read_head, METH_FASTCALL,
     "readHead(buffer, scanned, limits) -> None while the head is incomplete, else\n"
     "(body start, method, url, items, first values, body length)."},
    {"formatHead", (PyCFunction)(void (*)(void))wire_format_head, METH_FASTCALL,
     "formatHead(response, coreHeaders, length) -> the response head's bytes, or\n"
     "None where it holds anything but ints and strs where they belong."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef wire_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "wtvserv._wire_c",
    .m_doc = "The C accelerator of wtvserv.wire: reading request heads, writing response heads.",
    .m_size = -1,
    .m_methods = wire_methods,
};

PyMODINIT_FUNC
PyInit__wire_c(void)
{
    struct {
        PyObject **string;
        const char *text;
    } strings[] = {
        {&SECURE_ON, "SECURE ON"}, {&EMPTY, ""}, {&GET, "GET"}, {&POST, "POST"},
        {&PUT, "PUT"}, {&REQUEST_LINE, "requestLine"}, {&HEADER_COUNT, "headerCount"},
        {&HEADER_BLOCK, "headerBlock"}, {&BODY, "body"}, {&STATUS, "status"},
        {&REASON, "reason"}, {&CLOSE, "close"}, {&HEADERS, "headers"},
        {&CONTENT_TYPE, "contentType"},
    };
    size_t i;

    for (i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        if (*strings[i].string == NULL) {
            *strings[i].string = PyUnicode_InternFromString(strings[i].text);
            if (*strings[i].string == NULL) {
                return NULL;
            }
        }
    }
    return PyModule_Create(&wire_module);
}
