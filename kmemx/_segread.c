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
 *
 * Even in C, a call through Python costs drgn about 250 ns a read (drgn builds
 * an argument tuple of three ints, calls, exports the returned bytes and copies
 * them), twice libkdumpfile's read of a cached page, and drgn's helpers read a
 * lot: for_each_task with pid and comm makes 14 reads a task, comm one byte at a
 * time.  So install() also registers these two readers with libdrgn itself, as C
 * callbacks (drgn_program_add_memory_segment(), libdrgn's public API, exported by
 * drgn's _drgn module): a read is then a page lookup and a memcpy.  The segment
 * is first registered through Program.add_memory_segment, which keeps the reader
 * alive as long as the Program; the C registration of the same range then takes
 * precedence (a later segment overrides an earlier one).  The Program object's
 * layout is checked before it is used (see native_program()); when the check
 * fails the Python registration stays, with the same bytes and faults.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

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

/* -- the page lookup, with a memo -------------------------------------------------
 *
 * A dict lookup needs a key object; the memo is a direct-mapped table of pages
 * found lately, each entry valid while its dict is unchanged: the same dict and
 * the same PEP 509 version tag, which CPython changes on every insertion,
 * deletion and clear.  The entry's pointer is then into a bytes object that dict
 * still holds (a value cannot be replaced without a new tag), so it is not
 * referenced. */

#include "_dictversion.h"
#define HAVE_MEMO HAVE_DICT_VERSION

#define MEMO_BITS 10
#define MEMO_N (1u << MEMO_BITS)

typedef struct {
    PyObject *dict;            /* compared only, never dereferenced */
    uint64_t version;
    uint64_t pfn;
    const char *data;
} MemoEntry;

static MemoEntry memo[MEMO_N];

/* The 4 KiB page ``pfn`` of ``pages``: its first byte, or NULL when the dict
 * has no bytes page there (with an exception set only on an error). */
static inline const char *
page_lookup(PyObject *pages, uint64_t pfn)
{
#if HAVE_MEMO
    MemoEntry *e = &memo[(pfn ^ (pfn >> MEMO_BITS)) & (MEMO_N - 1)];
    uint64_t version = dict_version(pages);
    if (e->pfn == pfn && e->dict == pages && e->version == version)
        return e->data;
#endif
    PyObject *key = PyLong_FromUnsignedLongLong(pfn);
    if (!key)
        return NULL;
    PyObject *page = PyDict_GetItemWithError(pages, key);  /* borrowed */
    Py_DECREF(key);
    if (!page || !PyBytes_CheckExact(page) || PyBytes_GET_SIZE(page) < 4096)
        return NULL;
    const char *data = PyBytes_AS_STRING(page);
#if HAVE_MEMO
    e->dict = pages;
    e->version = version;
    e->pfn = pfn;
    e->data = data;
#endif
    return data;
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
        const char *page = page_lookup(self->pages, p >> 12);
        if (page)
            return PyBytes_FromStringAndSize(page + off, count);
        if (PyErr_Occurred())
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

/* -- the same readers as libdrgn C callbacks ------------------------------------------ */

/* libdrgn's public API (libdrgn/drgn.h), resolved in drgn's _drgn module */
struct drgn_error;
struct drgn_program;
struct drgn_type;
typedef struct drgn_error *(*drgn_memory_read_fn)(void *buf, uint64_t address, size_t count,
                                                  uint64_t offset, void *arg, bool physical);
static struct drgn_error *(*p_add_memory_segment)(struct drgn_program *, uint64_t, uint64_t,
                                                  drgn_memory_read_fn, void *, bool);
static struct drgn_error *(*p_error_create)(int, const char *);
static struct drgn_error *(*p_error_create_fault)(const char *, uint64_t);
static const char *(*p_error_message)(struct drgn_error *);
static void (*p_error_destroy)(struct drgn_error *);
static struct drgn_program *(*p_type_program)(struct drgn_type *);
static int (*p_program_flags)(struct drgn_program *);
/* enum drgn_error_code: DRGN_ERROR_OTHER, the same from drgn 0.0.9 to 0.3.0 */
#define KMEMX_DRGN_ERROR_OTHER 2
static PyObject *fault_error;     /* drgn.FaultError */
static int resolved;              /* 0: not tried, 1: found, -1: not available */

static int resolve(void)
{
    if (resolved)
        return resolved;
    resolved = -1;
    PyObject *mod = PyImport_ImportModule("_drgn");
    if (!mod)
        return -2;
    PyObject *file = PyObject_GetAttrString(mod, "__file__");
    PyObject *fe = PyObject_GetAttrString(mod, "FaultError");
    Py_DECREF(mod);
    if (!file || !fe || !PyUnicode_Check(file)) {
        Py_XDECREF(file);
        Py_XDECREF(fe);
        PyErr_Clear();
        return resolved;
    }
    void *h = dlopen(PyUnicode_AsUTF8(file), RTLD_NOW | RTLD_NOLOAD);
    Py_DECREF(file);
    if (!h) {
        Py_DECREF(fe);
        return resolved;
    }
    *(void **)&p_add_memory_segment = dlsym(h, "drgn_program_add_memory_segment");
    *(void **)&p_error_create = dlsym(h, "drgn_error_create");
    *(void **)&p_error_create_fault = dlsym(h, "drgn_error_create_fault");
    *(void **)&p_error_message = dlsym(h, "drgn_error_message");
    *(void **)&p_error_destroy = dlsym(h, "drgn_error_destroy");
    *(void **)&p_type_program = dlsym(h, "drgn_type_program");
    *(void **)&p_program_flags = dlsym(h, "drgn_program_flags");
    /* the handle stays open: _drgn is loaded for the process's life anyway */
    if (!p_add_memory_segment || !p_error_create || !p_error_create_fault || !p_error_message
        || !p_error_destroy || !p_type_program || !p_program_flags) {
        Py_DECREF(fe);
        return resolved;
    }
    fault_error = fe;
    resolved = 1;
    return resolved;
}

/* The struct drgn_program inside a drgn.Program, or NULL (no exception) when
 * its layout is not the one assumed.  drgn's Program object embeds its struct
 * drgn_program right after PyObject_HEAD (libdrgn/python/drgnpy.h, unchanged
 * from drgn 0.0.9 to 0.3.0), and a drgn.Type holds its struct drgn_type * at
 * the same place.  Both are checked against libdrgn's own answers: the
 * program of the Program's void type (drgn_type_program()) must be that
 * address, and drgn_program_flags() there must equal Program.flags. */
static struct drgn_program *native_program(PyObject *prog)
{
    PyObject *voidt = PyObject_CallMethod(prog, "void_type", NULL);
    PyObject *flags = voidt ? PyObject_GetAttrString(prog, "flags") : NULL;  /* enum.Flag */
    PyObject *value = flags ? PyObject_GetAttrString(flags, "value") : NULL;
    long want = value ? PyLong_AsLong(value) : -1;
    Py_XDECREF(value);
    Py_XDECREF(flags);
    if (!voidt || (want == -1 && PyErr_Occurred())) {
        Py_XDECREF(voidt);
        PyErr_Clear();
        return NULL;
    }
    struct drgn_program *dp = (struct drgn_program *)((char *)prog + sizeof(PyObject));
    struct drgn_type *t = *(struct drgn_type **)((char *)voidt + sizeof(PyObject));
    int ok = Py_TYPE(prog)->tp_basicsize > (Py_ssize_t)(sizeof(PyObject) + sizeof(void *))
             && Py_TYPE(voidt)->tp_basicsize >= (Py_ssize_t)(sizeof(PyObject) + sizeof(void *))
             && t != NULL && p_type_program(t) == dp && p_program_flags(dp) == want;
    Py_DECREF(voidt);
    return ok ? dp : NULL;
}

/* The pending Python exception as a drgn error: a drgn.FaultError keeps its
 * message and address; anything else becomes a drgn error with its type and
 * text (a KeyboardInterrupt is raised again at the next chance). */
static struct drgn_error *error_from_python(void)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    struct drgn_error *err = NULL;
    if (value && PyObject_IsInstance(value, fault_error) == 1) {
        PyObject *msg = PyObject_GetAttrString(value, "message");
        PyObject *addr = PyObject_GetAttrString(value, "address");
        unsigned long long a = addr ? PyLong_AsUnsignedLongLong(addr) : 0;
        const char *m = msg && PyUnicode_Check(msg) ? PyUnicode_AsUTF8(msg) : NULL;
        if (m && !PyErr_Occurred())
            err = p_error_create_fault(m, a);
        Py_XDECREF(msg);
        Py_XDECREF(addr);
        PyErr_Clear();
    }
    if (!err) {
        if (type && PyErr_GivenExceptionMatches(type, PyExc_KeyboardInterrupt))
            PyErr_SetInterrupt();
        PyObject *text = value ? PyObject_Str(value) : NULL;
        const char *t = text ? PyUnicode_AsUTF8(text) : NULL;
        const char *name = type ? ((PyTypeObject *)type)->tp_name : "error";
        PyObject *full = PyUnicode_FromFormat("%s: %s", name, t ? t : "");
        const char *f = full ? PyUnicode_AsUTF8(full) : NULL;
        err = p_error_create(KMEMX_DRGN_ERROR_OTHER, f ? f : name);
        Py_XDECREF(full);
        Py_XDECREF(text);
        PyErr_Clear();
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return err;
}

/* slow(address, count, offset, physical) copied into buf */
static struct drgn_error *call_slow(PyObject *slow, void *buf, uint64_t address, size_t count,
                                    uint64_t offset, bool physical)
{
    PyObject *ret = PyObject_CallFunction(slow, "KKKO", (unsigned long long)address,
                                          (unsigned long long)count,
                                          (unsigned long long)offset,
                                          physical ? Py_True : Py_False);
    if (!ret)
        return error_from_python();
    Py_buffer view;
    if (PyObject_GetBuffer(ret, &view, PyBUF_SIMPLE)) {
        Py_DECREF(ret);
        return error_from_python();
    }
    struct drgn_error *err = NULL;
    if (view.len != (Py_ssize_t)count) {
        PyErr_Format(PyExc_ValueError, "memory read callback returned buffer of length %zd "
                     "(expected %zu)", view.len, count);
        err = error_from_python();
    } else {
        memcpy(buf, view.buf, count);
    }
    PyBuffer_Release(&view);
    Py_DECREF(ret);
    return err;
}

static struct drgn_error *page_segment_read(void *buf, uint64_t address, size_t count,
                                            uint64_t offset, void *arg, bool physical)
{
    PageSegment *self = arg;
    PyGILState_STATE gil = PyGILState_Ensure();
    struct drgn_error *err = NULL;
    uint64_t p = self->pstart + offset, end = p + count;
    char *out = buf;
    /* every page cached: copied page by page; else the Python reader does the
     * whole read (it decompresses, and faults as drgn's kdump reader does) */
    while (p < end) {
        const char *page = page_lookup(self->pages, p >> 12);
        if (!page)
            break;
        size_t n = 4096 - (p & 0xFFF);
        if (n > end - p)
            n = end - p;
        memcpy(out, page + (p & 0xFFF), n);
        out += n;
        p += n;
    }
    if (p < end)
        err = PyErr_Occurred() ? error_from_python()
                               : call_slow(self->slow, buf, address, count, offset, physical);
    PyGILState_Release(gil);
    return err;
}

static struct drgn_error *buffer_segment_read(void *buf, uint64_t address, size_t count,
                                              uint64_t offset, void *arg, bool physical)
{
    BufferSegment *self = arg;
    PyGILState_STATE gil = PyGILState_Ensure();
    struct drgn_error *err = NULL;
    Py_buffer view;
    /* per read, not held: the mmap must stay closable */
    if (PyObject_GetBuffer(self->buffer, &view, PyBUF_SIMPLE)) {
        err = error_from_python();
    } else {
        if (offset > (uint64_t)PY_SSIZE_T_MAX || count > (size_t)PY_SSIZE_T_MAX
            || self->base + (Py_ssize_t)offset > view.len - (Py_ssize_t)count) {
            PyErr_Format(PyExc_ValueError, "read of %zu bytes at segment offset %llu is past "
                         "the end of the buffer", count, (unsigned long long)offset);
            err = error_from_python();
        } else {
            memcpy(buf, (const char *)view.buf + self->base + offset, count);
        }
        PyBuffer_Release(&view);
    }
    PyGILState_Release(gil);
    return err;
}

static PyObject *segread_install(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"prog", "address", "size", "reader", "physical", NULL};
    PyObject *prog, *reader;
    unsigned long long address, size;
    int physical;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OKKOp", kwlist, &prog, &address, &size,
                                     &reader, &physical))
        return NULL;
    drgn_memory_read_fn fn;
    if (Py_IS_TYPE(reader, &PageSegment_Type)) {
        PageSegment *s = (PageSegment *)reader;
        if (!s->pages || !s->slow) {
            PyErr_SetString(PyExc_ValueError, "uninitialised PageSegment");
            return NULL;
        }
        fn = page_segment_read;
    } else if (Py_IS_TYPE(reader, &BufferSegment_Type)) {
        if (!((BufferSegment *)reader)->buffer) {
            PyErr_SetString(PyExc_ValueError, "uninitialised BufferSegment");
            return NULL;
        }
        fn = buffer_segment_read;
    } else {
        PyErr_SetString(PyExc_TypeError, "reader must be a BufferSegment or a PageSegment");
        return NULL;
    }
    int r = resolve();
    if (r == -2)
        return NULL;
    if (r < 0)
        Py_RETURN_FALSE;
    struct drgn_program *dp = native_program(prog);
    if (!dp)
        Py_RETURN_FALSE;
    struct drgn_error *err = p_add_memory_segment(dp, address, size, fn, reader, physical);
    if (err) {
        PyErr_SetString(PyExc_RuntimeError, p_error_message(err));
        p_error_destroy(err);
        return NULL;
    }
    Py_RETURN_TRUE;
}

static PyMethodDef methods[] = {
    {"install", (PyCFunction)(void (*)(void))segread_install, METH_VARARGS | METH_KEYWORDS,
     "install(prog, address, size, reader, physical) -> bool\n\n"
     "Register reader (a BufferSegment or PageSegment that prog.add_memory_segment\n"
     "already holds for the same range) with libdrgn as a C callback. False when\n"
     "this drgn's Program cannot be reached from C (nothing changed then)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "kmemx._segread",
    .m_doc = "drgn memory-segment callbacks in C (see kmemx/_segread.c)",
    .m_size = -1,
    .m_methods = methods,
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
