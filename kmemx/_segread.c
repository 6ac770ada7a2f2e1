/*
 * Memory-segment callbacks for drgn, in C.
 *
 * drgn calls a segment's read function as fn(address, count, offset, physical)
 * for every read it makes (8 bytes for a pointer, 4 for a pid), so the cost of
 * a Python frame is most of a read's cost.  These two callables do the common
 * case without one:
 *
 *   BufferSegment(buffer, base)   bytes buffer[base + offset : base + offset + count]
 *                                 (an mmap of an ELF vmcore's PT_LOAD segment)
 *   PageSegment(pages, pstart, slow)
 *                                 a read inside one 4 KiB page whose pfn
 *                                 ((pstart + offset) >> 12) is a key of the dict
 *                                 ``pages`` (a kdump page cache: pfn -> bytes);
 *                                 anything else is slow(address, count, offset,
 *                                 physical), the Python reader.
 *
 * kmemx/target.py and kmemx/readers/kdump.py keep the pure-Python twins.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static int parse_call(PyObject *args, PyObject *kwargs, unsigned long long *address,
                      Py_ssize_t *count, unsigned long long *offset, PyObject **physical)
{
    if (kwargs && PyDict_GET_SIZE(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "segment readers take no keyword arguments");
        return -1;
    }
    if (!PyTuple_Check(args) || PyTuple_GET_SIZE(args) != 4) {
        PyErr_SetString(PyExc_TypeError,
                        "a segment reader takes (address, count, offset, physical)");
        return -1;
    }
    *address = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(args, 0));
    if (*address == (unsigned long long)-1 && PyErr_Occurred())
        return -1;
    *count = PyLong_AsSsize_t(PyTuple_GET_ITEM(args, 1));
    if (*count == -1 && PyErr_Occurred())
        return -1;
    if (*count < 0) {
        PyErr_SetString(PyExc_ValueError, "negative count");
        return -1;
    }
    *offset = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(args, 2));
    if (*offset == (unsigned long long)-1 && PyErr_Occurred())
        return -1;
    *physical = PyTuple_GET_ITEM(args, 3);
    return 0;
}

/* -- BufferSegment ---------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *buffer;
    Py_ssize_t base;
} BufferSegment;

static int BufferSegment_init(BufferSegment *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"buffer", "base", NULL};
    PyObject *buffer;
    Py_ssize_t base;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "On", kwlist, &buffer, &base))
        return -1;
    if (!PyObject_CheckBuffer(buffer)) {
        PyErr_SetString(PyExc_TypeError, "buffer must support the buffer protocol");
        return -1;
    }
    if (base < 0) {
        PyErr_SetString(PyExc_ValueError, "negative base");
        return -1;
    }
    Py_INCREF(buffer);
    Py_XSETREF(self->buffer, buffer);
    self->base = base;
    return 0;
}

static void BufferSegment_dealloc(BufferSegment *self)
{
    Py_XDECREF(self->buffer);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *BufferSegment_call(BufferSegment *self, PyObject *args, PyObject *kwargs)
{
    unsigned long long address, offset;
    Py_ssize_t count;
    PyObject *physical;
    if (parse_call(args, kwargs, &address, &count, &offset, &physical))
        return NULL;
    if (!self->buffer) {
        PyErr_SetString(PyExc_ValueError, "uninitialised BufferSegment");
        return NULL;
    }
    Py_buffer view;
    /* per call, not held: the mmap must stay closable */
    if (PyObject_GetBuffer(self->buffer, &view, PyBUF_SIMPLE))
        return NULL;
    PyObject *ret;
    if (offset > (unsigned long long)PY_SSIZE_T_MAX
        || self->base + (Py_ssize_t)offset > view.len - count) {
        ret = NULL;
        PyErr_Format(PyExc_ValueError, "read of %zd bytes at segment offset %llu is past "
                     "the end of the buffer", count, offset);
    } else {
        ret = PyBytes_FromStringAndSize((const char *)view.buf + self->base + offset, count);
    }
    PyBuffer_Release(&view);
    return ret;
}

static PyTypeObject BufferSegment_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "kmemx._segread.BufferSegment",
    .tp_basicsize = sizeof(BufferSegment),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "BufferSegment(buffer, base): a drgn segment reader over buffer[base:]",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)BufferSegment_init,
    .tp_dealloc = (destructor)BufferSegment_dealloc,
    .tp_call = (ternaryfunc)BufferSegment_call,
};

/* -- PageSegment ------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    PyObject *pages;
    unsigned long long pstart;
    PyObject *slow;
} PageSegment;

static int PageSegment_init(PageSegment *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"pages", "pstart", "slow", NULL};
    PyObject *pages, *slow;
    unsigned long long pstart;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!KO", kwlist, &PyDict_Type, &pages,
                                     &pstart, &slow))
        return -1;
    if (!PyCallable_Check(slow)) {
        PyErr_SetString(PyExc_TypeError, "slow must be callable");
        return -1;
    }
    Py_INCREF(pages);
    Py_XSETREF(self->pages, pages);
    Py_INCREF(slow);
    Py_XSETREF(self->slow, slow);
    self->pstart = pstart;
    return 0;
}

static void PageSegment_dealloc(PageSegment *self)
{
    Py_XDECREF(self->pages);
    Py_XDECREF(self->slow);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *PageSegment_call(PageSegment *self, PyObject *args, PyObject *kwargs)
{
    unsigned long long address, offset;
    Py_ssize_t count;
    PyObject *physical;
    if (parse_call(args, kwargs, &address, &count, &offset, &physical))
        return NULL;
    if (!self->pages || !self->slow) {
        PyErr_SetString(PyExc_ValueError, "uninitialised PageSegment");
        return NULL;
    }
    unsigned long long p = self->pstart + offset;
    Py_ssize_t off = (Py_ssize_t)(p & 0xFFF);
    if (off + count <= 4096) {
        PyObject *key = PyLong_FromUnsignedLongLong(p >> 12);
        if (!key)
            return NULL;
        PyObject *page = PyDict_GetItemWithError(self->pages, key);  /* borrowed */
        Py_DECREF(key);
        if (page && PyBytes_CheckExact(page) && PyBytes_GET_SIZE(page) >= off + count)
            return PyBytes_FromStringAndSize(PyBytes_AS_STRING(page) + off, count);
        if (!page && PyErr_Occurred())
            return NULL;
    }
    return PyObject_Call(self->slow, args, NULL);
}

static PyTypeObject PageSegment_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "kmemx._segread.PageSegment",
    .tp_basicsize = sizeof(PageSegment),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "PageSegment(pages, pstart, slow): a drgn segment reader over a page cache",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)PageSegment_init,
    .tp_dealloc = (destructor)PageSegment_dealloc,
    .tp_call = (ternaryfunc)PageSegment_call,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "kmemx._segread",
    .m_doc = "drgn memory-segment callbacks in C (see kmemx/_segread.c)",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__segread(void)
{
    if (PyType_Ready(&BufferSegment_Type) < 0 || PyType_Ready(&PageSegment_Type) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    Py_INCREF(&BufferSegment_Type);
    if (PyModule_AddObject(m, "BufferSegment", (PyObject *)&BufferSegment_Type) < 0) {
        Py_DECREF(&BufferSegment_Type);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&PageSegment_Type);
    if (PyModule_AddObject(m, "PageSegment", (PyObject *)&PageSegment_Type) < 0) {
        Py_DECREF(&PageSegment_Type);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
