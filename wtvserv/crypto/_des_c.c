/*
 * The C accelerator of wtvserv.crypto.challenge: single DES in ECB mode
 * (FIPS 46-3), which every login challenge and its answer are encrypted
 * with. cryptography offers only triple DES, whose cipher context costs
 * more to set up than the 100 bytes take to encrypt; here the tables are
 * worked out once, at import, from those of the standard. Bit 1 of the
 * standard is the most significant bit.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef unsigned char byte;
typedef unsigned long long u64;
typedef unsigned int u32;

static const byte DES_IP[64] = {
    58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4,
    62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32, 24, 16, 8,
    57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3,
    61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
};
static const byte DES_P[32] = {
    16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10,
    2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25,
};
static const byte DES_PC1[56] = {
    57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18,
    10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36,
    63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22,
    14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4,
};
static const byte DES_PC2[48] = {
    14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10,
    23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2,
    41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48,
    44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
};
static const byte DES_SHIFTS[16] = {1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1};
static const byte DES_S[8][64] = {
    {14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7,
     0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5, 3, 8,
     4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0,
     15, 12, 8, 2, 4, 9, 1, 7, 5, 11, 3, 14, 10, 0, 6, 13},
    {15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10,
     3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9, 11, 5,
     0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15,
     13, 8, 10, 1, 3, 15, 4, 2, 11, 6, 7, 12, 0, 5, 14, 9},
    {10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8,
     13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11, 15, 1,
     13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7,
     1, 10, 13, 0, 6, 9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12},
    {7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15,
     13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10, 14, 9,
     10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4,
     3, 15, 0, 6, 10, 1, 13, 8, 9, 4, 5, 11, 12, 7, 2, 14},
    {2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9,
     14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9, 8, 6,
     4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14,
     11, 8, 12, 7, 1, 14, 2, 13, 6, 15, 0, 9, 10, 4, 5, 3},
    {12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11,
     10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11, 3, 8,
     9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6,
     4, 3, 2, 12, 9, 5, 15, 10, 11, 14, 1, 7, 6, 0, 8, 13},
    {4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1,
     13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15, 8, 6,
     1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2,
     6, 11, 13, 8, 1, 4, 10, 7, 9, 5, 0, 15, 14, 2, 3, 12},
    {13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7,
     1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14, 9, 2,
     7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8,
     2, 1, 14, 7, 4, 10, 8, 13, 15, 12, 9, 0, 3, 5, 6, 11},
};

/* Worked out at import: S-box and P in one, IP and its inverse by byte. */
static u32 des_sp[8][64];
static u64 des_ip[8][256], des_fp[8][256];

/* Bit n (1-based, 1 the most significant) of a value of width bits. */
#define DES_BIT(value, width, n) (((value) >> ((width) - (n))) & 1)

static u64
des_permute(u64 input, int width, const byte *table, int count)
{
    u64 output = 0;
    int i;
    for (i = 0; i < count; i++) {
        output = (output << 1) | DES_BIT(input, width, table[i]);
    }
    return output;
}

static void
des_init(void)
{
    byte fp[64];
    int box, x, position, value;

    for (position = 0; position < 64; position++) {
        fp[DES_IP[position] - 1] = (byte)(position + 1);
    }
    for (box = 0; box < 8; box++) {
        for (x = 0; x < 64; x++) {
            /* Row from bits 1 and 6, column from bits 2 to 5. */
            int row = ((x >> 4) & 2) | (x & 1), column = (x >> 1) & 15;
            u32 s = (u32)DES_S[box][row * 16 + column] << (28 - 4 * box);
            des_sp[box][x] = (u32)des_permute(s, 32, DES_P, 32);
        }
        for (value = 0; value < 256; value++) {
            u64 input = (u64)value << (56 - 8 * box);
            des_ip[box][value] = des_permute(input, 64, DES_IP, 64);
            des_fp[box][value] = des_permute(input, 64, fp, 64);
        }
    }
}

/* The 16 round keys of key, each as 8 groups of 6 bits, one per byte. */
static void
des_schedule(const byte *key, byte subkeys[16][8])
{
    u64 k = 0, cd;
    u32 c, d;
    int round, i;

    for (i = 0; i < 8; i++) {
        k = (k << 8) | key[i];
    }
    cd = des_permute(k, 64, DES_PC1, 56);
    c = (u32)(cd >> 28) & 0xfffffff;
    d = (u32)cd & 0xfffffff;
    for (round = 0; round < 16; round++) {
        int shift = DES_SHIFTS[round];
        u64 sub;
        c = ((c << shift) | (c >> (28 - shift))) & 0xfffffff;
        d = ((d << shift) | (d >> (28 - shift))) & 0xfffffff;
        sub = des_permute(((u64)c << 28) | d, 56, DES_PC2, 48);
        for (i = 0; i < 8; i++) {
            subkeys[round][i] = (byte)((sub >> (42 - 6 * i)) & 63);
        }
    }
}

static u64
des_table_permute(u64 input, u64 table[8][256])
{
    u64 output = 0;
    int i;
    for (i = 0; i < 8; i++) {
        output |= table[i][(input >> (56 - 8 * i)) & 255];
    }
    return output;
}

static u32
des_round(u32 r, const byte *subkey)
{
    u32 f = 0;
    int i;
    for (i = 0; i < 8; i++) {
        /* E: bits 4i to 4i+5 of r (bit 0 being bit 32), by rotation. */
        int left = (4 * i + 31) % 32;
        u32 rotated = left ? (r << left) | (r >> (32 - left)) : r;
        f ^= des_sp[i][((rotated >> 26) & 63) ^ subkey[i]];
    }
    return f;
}

static void
des_block(const byte *in, byte *out, byte subkeys[16][8], int decrypt)
{
    u64 block = 0;
    u32 l, r;
    int round, i;

    for (i = 0; i < 8; i++) {
        block = (block << 8) | in[i];
    }
    block = des_table_permute(block, des_ip);
    l = (u32)(block >> 32);
    r = (u32)block;
    for (round = 0; round < 16; round++) {
        u32 next = l ^ des_round(r, subkeys[decrypt ? 15 - round : round]);
        l = r;
        r = next;
    }
    block = des_table_permute(((u64)r << 32) | l, des_fp);
    for (i = 7; i >= 0; i--) {
        out[i] = (byte)block;
        block >>= 8;
    }
}

static PyObject *
des_ecb(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer key, data;
    PyObject *result = NULL;
    byte subkeys[16][8];
    int decrypt;
    Py_ssize_t offset;

    (void)module;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "desECB() takes key, data and decrypt");
        return NULL;
    }
    decrypt = PyObject_IsTrue(args[2]);
    if (decrypt < 0 || PyObject_GetBuffer(args[0], &key, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &data, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&key);
        return NULL;
    }
    if (key.len != 8 || data.len % 8 != 0) {
        PyErr_SetString(PyExc_ValueError, "desECB() takes an 8-byte key and whole blocks");
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, data.len);
    if (result == NULL) {
        goto done;
    }
    des_schedule((const byte *)key.buf, subkeys);
    for (offset = 0; offset < data.len; offset += 8) {
        des_block((const byte *)data.buf + offset,
                  (byte *)PyBytes_AS_STRING(result) + offset, subkeys, decrypt);
    }
done:
    PyBuffer_Release(&key);
    PyBuffer_Release(&data);
    return result;
}

/* -- Module ------------------------------------------------------------ */

static PyMethodDef des_methods[] = {
    {"desECB", (PyCFunction)(void (*)(void))des_ecb, METH_FASTCALL,
     "desECB(key, data, decrypt) -> data encrypted (or decrypted) with single DES\n"
     "in ECB mode under the 8-byte key; data is whole 8-byte blocks."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef des_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "wtvserv.crypto._des_c",
    .m_doc = "The C accelerator of wtvserv.crypto.challenge: single DES.",
    .m_size = -1,
    .m_methods = des_methods,
};

PyMODINIT_FUNC
PyInit__des_c(void)
{
    des_init();
    return PyModule_Create(&des_module);
}
