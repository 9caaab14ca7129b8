/*
 * The C accelerator of wtvserv.crypto.rc4: one RC4 keystream (PROTOCOL.md
 * 2.1: the plain cipher, no keystream bytes dropped).
 *
 * pycryptodome's ARC4, the fallback, runs the cipher in C too, but reaches
 * it through its ctypes/cffi layer on each call, which costs more than the
 * cipher on a login's small messages. Here the state lives in the object
 * and each call is one C call. The GIL stays held: the streams run on the
 * reactor thread, where releasing it would hand it to a store thread and
 * back (a context switch each way) for microseconds of work.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

/* The key lengths pycryptodome's ARC4 takes, in bytes. */
#define SHORTEST_KEY 1
#define LONGEST_KEY 256

typedef struct {
    PyObject_HEAD
    uint8_t state[256];
    uint8_t i, j;
} RC4Stream;

static PyObject *
stream_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"key", NULL};
    Py_buffer key;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*:RC4Stream", keywords, &key))
        return NULL;
    if (key.len < SHORTEST_KEY || key.len > LONGEST_KEY) {
        PyErr_Format(PyExc_ValueError, "an RC4 key is %d to %d bytes, not %zd",
                     SHORTEST_KEY, LONGEST_KEY, key.len);
        PyBuffer_Release(&key);
        return NULL;
    }
    RC4Stream *self = (RC4Stream *)type->tp_alloc(type, 0);
    if (self != NULL) {
        const uint8_t *bytes = key.buf;
        uint8_t *state = self->state;
        for (int n = 0; n < 256; n++)
            state[n] = (uint8_t)n;
        uint8_t j = 0;
        Py_ssize_t k = 0;
        for (int n = 0; n < 256; n++) {
            uint8_t swapped = state[n];
            j = (uint8_t)(j + swapped + bytes[k]);
            if (++k == key.len)
                k = 0;
            state[n] = state[j];
            state[j] = swapped;
        }
        self->i = self->j = 0;
    }
    PyBuffer_Release(&key);
    return (PyObject *)self;
}

PyDoc_STRVAR(process_doc,
"process(data) -> bytes\n\n"
"data XORed with the next len(data) keystream bytes (encryption and\n"
"decryption are the same). Empty input consumes no keystream.");

static PyObject *
stream_process(RC4Stream *self, PyObject *data)
{
    Py_buffer input;
    if (PyObject_GetBuffer(data, &input, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *output = PyBytes_FromStringAndSize(NULL, input.len);
    if (output != NULL) {
        const uint8_t *from = input.buf;
        uint8_t *to = (uint8_t *)PyBytes_AS_STRING(output);
        uint8_t *state = self->state;
        uint8_t i = self->i, j = self->j;
        for (Py_ssize_t n = 0; n < input.len; n++) {
            i = (uint8_t)(i + 1);
            uint8_t a = state[i];
            j = (uint8_t)(j + a);
            uint8_t b = state[j];
            state[i] = b;
            state[j] = a;
            to[n] = from[n] ^ state[(uint8_t)(a + b)];
        }
        self->i = i;
        self->j = j;
    }
    PyBuffer_Release(&input);
    return output;
}

static PyObject *
stream_repr(PyObject *Py_UNUSED(self))
{
    return PyUnicode_FromString("<RC4Stream>");
}

static PyMethodDef stream_methods[] = {
    {"process", (PyCFunction)stream_process, METH_O, process_doc},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(stream_doc,
"RC4Stream(key)\n\n"
"One RC4 keystream, consumed across every message it processes.");

static PyTypeObject RC4StreamType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "wtvserv.crypto._rc4_c.RC4Stream",
    .tp_basicsize = sizeof(RC4Stream),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = stream_doc,
    .tp_new = stream_new,
    .tp_repr = stream_repr,
    .tp_methods = stream_methods,
};

static struct PyModuleDef rc4_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "wtvserv.crypto._rc4_c",
    .m_doc = "The C accelerator of wtvserv.crypto.rc4: an RC4 keystream.",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__rc4_c(void)
{
    if (PyType_Ready(&RC4StreamType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&rc4_module);
    if (module == NULL)
        return NULL;
    if (PyModule_AddObjectRef(module, "RC4Stream", (PyObject *)&RC4StreamType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
