/*
 * kmemx._speedups: the hot inner loops of typed views and list walks in C.
 *
 * Everything here has a pure-Python equivalent in kmemx/types/view.py,
 * kmemx/types/fields.py and kmemx/helpers/list.py, which is used when this module was not built (or
 * KMEMX_NO_SPEEDUPS=1).  The C code only ever takes the fast path: a read
 * whose page is in the kernel's page cache (``pages``: virtual page number ->
 * (buffer, offset)) and does not cross the page.  Anything else (a cache
 * miss, a fault, a cross-page read) is handed back to the Python code, so
 * errors, faults and translations keep exactly one implementation.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

#define PAGE_SIZE 4096u
#define PAGE_MASK 4095u

/* -- reading from the page cache ------------------------------------------ */

static PyObject *
int_of(uint64_t v, unsigned size, int is_signed)
{
    if (is_signed && size < 8) {
        uint64_t sign = (uint64_t)1 << (8 * size - 1);
        if (v & sign)
            return PyLong_FromLongLong((long long)v - (long long)(sign << 1));
        return PyLong_FromLongLong((long long)v);
    }
    if (is_signed)
        return PyLong_FromLongLong((long long)v);
    return PyLong_FromUnsignedLongLong(v);
}

/* -- the page cache's C mirror ---------------------------------------------
 *
 * ``pages`` is a Python dict (virtual page number -> (buffer, offset)); a
 * lookup there costs a key object, a hash probe and a buffer export, about as
 * much as the rest of a member read.  The mirror is a direct-mapped table of
 * the pages found there lately: an entry is valid while the dict it came from
 * is unchanged (its identity and its version tag, which CPython changes on
 * every insertion, deletion or clear and never reuses, PEP 509), so anything
 * that adds, evicts or flushes a page invalidates the whole mirror at once.
 * Only buffers whose bytes cannot move while the dict holds them are
 * mirrored: ``bytes`` (a decompressed or copied page) and ``mmap.mmap`` (a
 * dump's mapping, which kmemx closes only after emptying the dict, see
 * Kernel.close).  An entry borrows the dict's value: it is used only while
 * the dict is unchanged, which holds that value (a value cannot be replaced
 * or dropped without a new tag), so an evicted page is not kept alive by the
 * mirror; other buffers are read through a buffer export as before. */

#include "_dictversion.h"
#define HAVE_MIRROR HAVE_DICT_VERSION

#define MIRROR_BITS 13
#define MIRROR_N (1u << MIRROR_BITS)

typedef struct {
    PyObject *dict;               /* compared only, never dereferenced */
    uint64_t version;
    uint64_t vpn;
    const unsigned char *base;
    PyObject *val;                /* the dict's (buffer, offset) value, borrowed */
} MirrorEntry;

static MirrorEntry mirror[MIRROR_N];
static PyTypeObject *mmap_type;   /* mmap.mmap, or NULL */

static inline MirrorEntry *
mirror_slot(uint64_t vpn)
{
    return &mirror[(vpn ^ (vpn >> MIRROR_BITS)) & (MIRROR_N - 1)];
}

/* The first byte of page ``vpn`` when the mirror has it: 1, else 0. */
static inline int
mirror_hit(PyObject *pages, uint64_t vpn, const unsigned char **out)
{
#if HAVE_MIRROR
    MirrorEntry *e = mirror_slot(vpn);
    if (e->dict == pages && e->vpn == vpn && e->version == dict_version(pages)) {
        *out = e->base;
        return 1;
    }
#endif
    return 0;
}

/* Look page ``vpn`` up in the dict.  1: *out is its first byte and *val the
 * dict's value (borrowed; mirrored now); 2: a buffer that must be exported to
 * be read (*val is the value, *boff its offset); 0: not cached or not a
 * (buffer, offset) pair the fast paths read; -1 with an exception set. */
static int
dict_page(PyObject *pages, uint64_t vpn, const unsigned char **out, PyObject **val,
          Py_ssize_t *boff)
{
    PyObject *key = PyLong_FromUnsignedLongLong(vpn);
    if (key == NULL)
        return -1;
    PyObject *p = PyDict_GetItemWithError(pages, key);
    Py_DECREF(key);
    if (p == NULL)
        return PyErr_Occurred() ? -1 : 0;
    if (!PyTuple_CheckExact(p) || PyTuple_GET_SIZE(p) != 2)
        return 0;
    Py_ssize_t off = PyLong_AsSsize_t(PyTuple_GET_ITEM(p, 1));
    if (off == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    if (off < 0)
        return 0;
    PyObject *buf = PyTuple_GET_ITEM(p, 0);
    const unsigned char *base;
    if (PyBytes_CheckExact(buf)) {
        if (off + (Py_ssize_t)PAGE_SIZE > PyBytes_GET_SIZE(buf))
            return 0;
        base = (const unsigned char *)PyBytes_AS_STRING(buf) + off;
    } else if (mmap_type != NULL && Py_IS_TYPE(buf, mmap_type)) {
        Py_buffer view;
        if (PyObject_GetBuffer(buf, &view, PyBUF_SIMPLE) < 0) {  /* closed */
            PyErr_Clear();
            return 0;
        }
        int ok = off + (Py_ssize_t)PAGE_SIZE <= view.len;
        base = (const unsigned char *)view.buf + off;
        PyBuffer_Release(&view);
        if (!ok)
            return 0;
    } else {
        *val = p;
        *boff = off;
        return 2;
    }
#if HAVE_MIRROR
    MirrorEntry *e = mirror_slot(vpn);
    e->dict = pages;
    e->version = dict_version(pages);
    e->vpn = vpn;
    e->base = base;
    e->val = p;
#endif
    *out = base;
    *val = p;
    return 1;
}

/* Pages looked up during one call (read_members, walk_links): a struct's
 * members are mostly on one or two pages, so each page is looked up once
 * per call.  Each slot holds the page's dict value (or a buffer export of
 * it), so its bytes stay put until the call ends. */
#define MEMO_N 4

typedef struct {
    int n, next;
    uint64_t vpn[MEMO_N];
    const unsigned char *base[MEMO_N];
    PyObject *ref[MEMO_N];
    Py_buffer view[MEMO_N];
    int release[MEMO_N];
} PageMemo;

static void
memo_slot_clear(PageMemo *m, int i)
{
    if (m->release[i])
        PyBuffer_Release(&m->view[i]);
    m->release[i] = 0;
    Py_CLEAR(m->ref[i]);
}

static void
memo_release(PageMemo *m)
{
    for (int i = 0; i < m->n; i++)
        memo_slot_clear(m, i);
    m->n = 0;
}

/* The first byte of cached page ``vpn``: 1, 0 when not cached, -1 on error. */
static int
memo_page(PyObject *pages, PageMemo *m, uint64_t vpn, const unsigned char **out)
{
    for (int i = 0; i < m->n; i++) {
        if (m->vpn[i] == vpn) {
            *out = m->base[i];
            return 1;
        }
    }
    const unsigned char *base;
    PyObject *val = NULL;
    Py_ssize_t boff = 0;
    int r;
#if HAVE_MIRROR
    MirrorEntry *e = mirror_slot(vpn);
    if (e->dict == pages && e->vpn == vpn && e->version == dict_version(pages)) {
        base = e->base;
        val = e->val;  /* alive: the unchanged dict holds it (the memo takes a ref) */
        r = 1;
    } else
#endif
    r = dict_page(pages, vpn, &base, &val, &boff);
    if (r <= 0)
        return r;
    int slot;
    if (m->n < MEMO_N) {
        slot = m->n++;
        m->release[slot] = 0;
        m->ref[slot] = NULL;
    } else {
        slot = m->next;
        m->next = (m->next + 1) % MEMO_N;
        memo_slot_clear(m, slot);
    }
    m->vpn[slot] = (uint64_t)-1;
    m->base[slot] = NULL;
    Py_INCREF(val);
    m->ref[slot] = val;
    if (r == 2) {
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(val, 0), &m->view[slot], PyBUF_SIMPLE) < 0) {
            PyErr_Clear();
            return 0;
        }
        m->release[slot] = 1;
        if (boff + (Py_ssize_t)PAGE_SIZE > m->view[slot].len)
            return 0;
        base = (const unsigned char *)m->view[slot].buf + boff;
    }
    m->vpn[slot] = vpn;
    m->base[slot] = base;
    *out = base;
    return 1;
}

static inline uint64_t
load_le(const unsigned char *p, unsigned size)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    switch (size) {
    case 8: { uint64_t v; memcpy(&v, p, 8); return v; }
    case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
    case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
    case 1: return p[0];
    default: break;
    }
#endif
    uint64_t v = 0;
    for (unsigned j = 0; j < size; j++)
        v |= (uint64_t)p[j] << (8 * j);
    return v;
}

/* ``size`` little-endian bytes at ``a`` through the memo: 1, 0 (miss), -1. */
static int
memo_read(PyObject *pages, PageMemo *memo, uint64_t a, unsigned size, uint64_t *out)
{
    if ((a & PAGE_MASK) + size > PAGE_SIZE)
        return 0;
    const unsigned char *page;
    int r = memo_page(pages, memo, a >> 12, &page);
    if (r <= 0)
        return r;
    *out = load_le(page + (a & PAGE_MASK), size);
    return 1;
}

/* Read ``size`` (1, 2, 4 or 8) little-endian bytes at virtual address ``a``:
 * 1 on success, 0 when the fast path does not apply (not cached, crossing a
 * page, odd buffer), -1 with an exception set. */
static int
read_fast(PyObject *pages, uint64_t a, unsigned size, uint64_t *out)
{
    if ((a & PAGE_MASK) + size > PAGE_SIZE)
        return 0;
    const unsigned char *page;
    if (mirror_hit(pages, a >> 12, &page)) {
        *out = load_le(page + (a & PAGE_MASK), size);
        return 1;
    }
    PageMemo memo;
    memo.n = memo.next = 0;
    int r = memo_read(pages, &memo, a, size, out);
    memo_release(&memo);
    return r;
}

/* ``node - off`` as Python computes it (negative below ``off``). */
static PyObject *
sub_of(uint64_t node, uint64_t off)
{
    if (node >= off)
        return PyLong_FromUnsignedLongLong(node - off);
    return PyLong_FromLongLong(-(long long)(off - node));
}

/* -- ViewBase: the (kernel, address) pair every struct view is ------------ */

typedef struct {
    PyObject_HEAD
    PyObject *k;   /* the Kernel */
    PyObject *a;   /* the address, a Python int; NULL until asked for when it is ua */
    uint64_t ua;   /* the address modulo 2**64 */
} ViewBase;

static PyTypeObject ViewBase_Type;

/* Freed views and arrays kept for the next ones: a pointer member, an
 * array member (``comm``) or a list step makes an object and drops it soon
 * after, and the allocator's round trip (a GC object's malloc, zeroing,
 * linking and unlinking) cost as much as the read.  Only objects whose
 * memory is exactly their base's go on a list: every view and array class
 * has empty __slots__ (no dict, no weak references, no extra fields) and
 * the default allocator, so a kept block fits any of them; the rest are
 * freed as before.  A list holds raw memory, not objects: a kept block's
 * refcount is zero and its type reference already dropped (by its dealloc
 * or subtype_dealloc()); PyObject_Init() makes it an object again. */
#define FREELIST_N 256

typedef struct {
    int n;
    PyObject *blocks[FREELIST_N];
} FreeList;

static FreeList view_freelist, array_freelist;

static inline int
block_fits(PyTypeObject *type, Py_ssize_t size)
{
    return type->tp_basicsize == size && type->tp_itemsize == 0 &&
           type->tp_dictoffset == 0 && type->tp_weaklistoffset == 0 &&
#ifdef Py_TPFLAGS_MANAGED_DICT
           !(type->tp_flags & Py_TPFLAGS_MANAGED_DICT) &&
#endif
           type->tp_alloc == PyType_GenericAlloc && type->tp_free == PyObject_GC_Del;
}

/* A new GC object of ``type`` (``size`` bytes, its fields to be set by the
 * caller), from ``fl`` when it has a block, else from type->tp_alloc. */
static PyObject *
freelist_alloc(FreeList *fl, PyTypeObject *type, Py_ssize_t size)
{
    if (fl->n > 0 && block_fits(type, size)) {
        PyObject *o = fl->blocks[--fl->n];
        PyObject_Init(o, type);  /* the type (a heap type: a new ref), refcount 1 */
        PyObject_GC_Track(o);
        return o;
    }
    return type->tp_alloc(type, 0);
}

/* The end of a dealloc whose object is untracked and cleared: keep the block
 * or free it.  (A heap type's reference is dropped by subtype_dealloc()
 * after this.) */
static void
freelist_free(FreeList *fl, PyObject *o, Py_ssize_t size)
{
    if (fl->n < FREELIST_N && block_fits(Py_TYPE(o), size)) {
        fl->blocks[fl->n++] = o;
        return;
    }
    Py_TYPE(o)->tp_free(o);
}

/* A view of ``type`` at address ``a`` (NULL: ``ua`` itself; the int is
 * made when Python asks for ``_a``). */
static PyObject *
new_view(PyTypeObject *type, PyObject *k, PyObject *a, uint64_t ua)
{
    ViewBase *v = (ViewBase *)freelist_alloc(&view_freelist, type, sizeof(ViewBase));
    if (v == NULL)
        return NULL;
    Py_INCREF(k);
    v->k = k;
    Py_XINCREF(a);
    v->a = a;
    v->ua = ua;
    return (PyObject *)v;
}

/* ``_a`` of a view or array: the address as a Python int. */
static PyObject *
lazy_address(PyObject **a, uint64_t ua)
{
    if (*a == NULL) {
        *a = PyLong_FromUnsignedLongLong(ua);
        if (*a == NULL)
            return NULL;
    }
    Py_INCREF(*a);
    return *a;
}

static PyObject *
ViewBase_get_a(ViewBase *self, void *closure)
{
    return lazy_address(&self->a, self->ua);
}

static PyObject *
ViewBase_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *k, *a;
    if (kwds != NULL && PyDict_GET_SIZE(kwds) != 0) {
        PyErr_SetString(PyExc_TypeError, "views take (kernel, address) positionally");
        return NULL;
    }
    if (!PyArg_UnpackTuple(args, type->tp_name, 2, 2, &k, &a))
        return NULL;
    PyObject *ai = PyNumber_Index(a);
    if (ai == NULL)
        return NULL;
    uint64_t ua = PyLong_AsUnsignedLongLongMask(ai);
    if (ua == (uint64_t)-1 && PyErr_Occurred()) {
        Py_DECREF(ai);
        return NULL;
    }
    PyObject *v = new_view(type, k, ai, ua);
    Py_DECREF(ai);
    return v;
}

/* Views take part in garbage collection: a view kept in a per-program cache
 * (prog.cache -> view -> kernel -> prog) must not hide that cycle. */
static int
ViewBase_traverse(ViewBase *self, visitproc visit, void *arg)
{
    Py_VISIT(self->k);
    return 0;
}

static int
ViewBase_clear(ViewBase *self)
{
    Py_CLEAR(self->k);
    return 0;
}

static void
ViewBase_dealloc(ViewBase *self)
{
    PyObject_GC_UnTrack(self);
    Py_CLEAR(self->k);
    Py_CLEAR(self->a);
    freelist_free(&view_freelist, (PyObject *)self, sizeof(ViewBase));
}

static PyMemberDef ViewBase_members[] = {
    {"_k", T_OBJECT_EX, offsetof(ViewBase, k), READONLY, "the Kernel"},
    {NULL},
};

static PyGetSetDef ViewBase_getset[] = {
    {"_a", (getter)ViewBase_get_a, NULL, "the address", NULL},
    {NULL},
};

static PyTypeObject ViewBase_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "kmemx._speedups.ViewBase",
    .tp_basicsize = sizeof(ViewBase),
    .tp_dealloc = (destructor)ViewBase_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A kernel and an address: the base of every struct view.",
    .tp_traverse = (traverseproc)ViewBase_traverse,
    .tp_clear = (inquiry)ViewBase_clear,
    .tp_members = ViewBase_members,
    .tp_getset = ViewBase_getset,
    .tp_new = ViewBase_new,
};

/* -- ViewFactory: k.view(type_name, address) ------------------------------ */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *classes;   /* type name -> view class, filled by the slow path */
    PyObject *k;
    PyObject *slow;      /* slow(type, address): any other call */
} ViewFactory;

static PyObject *
ViewFactory_vectorcall(ViewFactory *self, PyObject *const *args, size_t nargsf,
                       PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs == 2 && kwnames == NULL && PyUnicode_CheckExact(args[0]) &&
        PyLong_CheckExact(args[1])) {
        PyObject *cls = PyDict_GetItemWithError(self->classes, args[0]);
        if (cls == NULL && PyErr_Occurred())
            return NULL;
        if (cls != NULL && PyType_Check(cls) &&
            PyType_IsSubtype((PyTypeObject *)cls, &ViewBase_Type)) {
            uint64_t ua = PyLong_AsUnsignedLongLongMask(args[1]);
            if (ua == (uint64_t)-1 && PyErr_Occurred())
                return NULL;
            return new_view((PyTypeObject *)cls, self->k, args[1], ua);
        }
    }
    return PyObject_Vectorcall(self->slow, args, nargsf, kwnames);
}

static PyObject *
ViewFactory_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"classes", "k", "slow", NULL};
    PyObject *classes, *k, *slow;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!OO", kwlist, &PyDict_Type, &classes, &k,
                                     &slow))
        return NULL;
    ViewFactory *self = (ViewFactory *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->vectorcall = (vectorcallfunc)ViewFactory_vectorcall;
    Py_INCREF(classes); self->classes = classes;
    Py_INCREF(k); self->k = k;
    Py_INCREF(slow); self->slow = slow;
    return (PyObject *)self;
}

static int
ViewFactory_traverse(ViewFactory *self, visitproc visit, void *arg)
{
    Py_VISIT(self->classes);
    Py_VISIT(self->k);
    Py_VISIT(self->slow);
    return 0;
}

static int
ViewFactory_clear(ViewFactory *self)
{
    Py_CLEAR(self->classes);
    Py_CLEAR(self->k);
    Py_CLEAR(self->slow);
    return 0;
}

static void
ViewFactory_dealloc(ViewFactory *self)
{
    PyObject_GC_UnTrack(self);
    ViewFactory_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject ViewFactory_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "kmemx._speedups.ViewFactory",
    .tp_basicsize = sizeof(ViewFactory),
    .tp_dealloc = (destructor)ViewFactory_dealloc,
    .tp_vectorcall_offset = offsetof(ViewFactory, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "ViewFactory(classes, k, slow): k.view(type, address); a type name found "
              "in classes (name -> view class) with an int address is made here, "
              "anything else by slow(type, address).",
    .tp_traverse = (traverseproc)ViewFactory_traverse,
    .tp_clear = (inquiry)ViewFactory_clear,
    .tp_new = ViewFactory_new,
};

/* -- ArrayBase: a C array at an address ---------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *k;
    PyObject *a;
    PyObject *spec;      /* the element type, length, stride and reader */
    PyObject *pages;     /* the kernel's page cache, or NULL */
    uint64_t ua;
    Py_ssize_t nbytes;   /* length * stride; -1 when the length is unknown */
} ArrayBase;

static PyTypeObject ArrayBase_Type;

static Py_ssize_t
spec_nbytes(PyObject *spec)
{
    PyObject *nb = PyObject_GetAttrString(spec, "nbytes");
    if (nb == NULL)
        return -2;
    Py_ssize_t n = nb == Py_None ? -1 : PyLong_AsSsize_t(nb);
    Py_DECREF(nb);
    if (n == -1 && PyErr_Occurred())
        return -2;
    return n;
}

static PyObject *
new_array(PyTypeObject *type, PyObject *k, PyObject *a, uint64_t ua, PyObject *spec,
          PyObject *pages, Py_ssize_t nbytes)
{
    ArrayBase *v = (ArrayBase *)freelist_alloc(&array_freelist, type, sizeof(ArrayBase));
    if (v == NULL)
        return NULL;
    Py_INCREF(k); v->k = k;
    Py_XINCREF(a); v->a = a;  /* NULL: ua, made when asked for */
    Py_INCREF(spec); v->spec = spec;
    Py_XINCREF(pages); v->pages = pages;
    v->ua = ua;
    v->nbytes = nbytes;
    return (PyObject *)v;
}

static PyObject *
ArrayBase_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *k, *a, *spec;
    if (kwds != NULL && PyDict_GET_SIZE(kwds) != 0) {
        PyErr_SetString(PyExc_TypeError, "arrays take (kernel, address, spec) positionally");
        return NULL;
    }
    if (!PyArg_UnpackTuple(args, type->tp_name, 3, 3, &k, &a, &spec))
        return NULL;
    PyObject *ai = PyNumber_Index(a);
    if (ai == NULL)
        return NULL;
    uint64_t ua = PyLong_AsUnsignedLongLongMask(ai);
    Py_ssize_t nbytes = spec_nbytes(spec);
    PyObject *pages = PyObject_GetAttrString(k, "_pages");
    if (pages != NULL && !PyDict_Check(pages))
        Py_CLEAR(pages);
    PyErr_Clear();
    PyObject *res = NULL;
    if (nbytes != -2 && !PyErr_Occurred())
        res = new_array(type, k, ai, ua, spec, pages, nbytes);
    Py_XDECREF(pages);
    Py_DECREF(ai);
    return res;
}

static int
ArrayBase_traverse(ArrayBase *self, visitproc visit, void *arg)
{
    Py_VISIT(self->k);
    Py_VISIT(self->spec);
    Py_VISIT(self->pages);
    return 0;
}

static int
ArrayBase_clear(ArrayBase *self)
{
    Py_CLEAR(self->k);
    Py_CLEAR(self->a);
    Py_CLEAR(self->spec);
    Py_CLEAR(self->pages);
    return 0;
}

static void
ArrayBase_dealloc(ArrayBase *self)
{
    PyObject_GC_UnTrack(self);
    ArrayBase_clear(self);
    freelist_free(&array_freelist, (PyObject *)self, sizeof(ArrayBase));
}

PyDoc_STRVAR(ArrayBase_string_doc,
"string() -> bytes\n\nThe array's bytes up to the first NUL (like drgn's ``string_()``).");

static PyObject *
ArrayBase_string(ArrayBase *self, PyObject *unused)
{
    if (self->pages != NULL && self->nbytes >= 0 &&
        (self->ua & PAGE_MASK) + (uint64_t)self->nbytes <= PAGE_SIZE) {
        const unsigned char *mirrored;
        if (mirror_hit(self->pages, self->ua >> 12, &mirrored)) {  /* as read_fast() */
            const unsigned char *p = mirrored + (self->ua & PAGE_MASK);
            const unsigned char *nul = memchr(p, 0, (size_t)self->nbytes);
            return PyBytes_FromStringAndSize((const char *)p, nul ? nul - p : self->nbytes);
        }
        PageMemo memo;
        memo.n = memo.next = 0;
        const unsigned char *page;
        int r = memo_page(self->pages, &memo, self->ua >> 12, &page);
        PyObject *res = NULL;
        if (r > 0) {
            const unsigned char *p = page + (self->ua & PAGE_MASK);
            const unsigned char *nul = memchr(p, 0, (size_t)self->nbytes);
            res = PyBytes_FromStringAndSize((const char *)p, nul ? nul - p : self->nbytes);
        }
        memo_release(&memo);
        if (r != 0)
            return res;
    }
    return PyObject_CallMethod((PyObject *)self, "_string_slow", NULL);
}

static PyMethodDef ArrayBase_methods[] = {
    {"string", (PyCFunction)ArrayBase_string, METH_NOARGS, ArrayBase_string_doc},
    {NULL},
};

static PyMemberDef ArrayBase_members[] = {
    {"_k", T_OBJECT_EX, offsetof(ArrayBase, k), READONLY, "the Kernel"},
    {"_spec", T_OBJECT_EX, offsetof(ArrayBase, spec), READONLY, "the array's spec"},
    {NULL},
};

static PyObject *
ArrayBase_get_a(ArrayBase *self, void *closure)
{
    return lazy_address(&self->a, self->ua);
}

static PyGetSetDef ArrayBase_getset[] = {
    {"_a", (getter)ArrayBase_get_a, NULL, "the address", NULL},
    {NULL},
};

static PyTypeObject ArrayBase_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "kmemx._speedups.ArrayBase",
    .tp_basicsize = sizeof(ArrayBase),
    .tp_dealloc = (destructor)ArrayBase_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "ArrayBase(k, address, spec): the base of kmemx's ArrayView.",
    .tp_traverse = (traverseproc)ArrayBase_traverse,
    .tp_clear = (inquiry)ArrayBase_clear,
    .tp_methods = ArrayBase_methods,
    .tp_members = ArrayBase_members,
    .tp_getset = ArrayBase_getset,
    .tp_new = ArrayBase_new,
};

/* -- Field: a compiled scalar member of a view class ---------------------- */

enum { K_INT = 0, K_BOOL = 1, K_VIEW = 2, K_CALL = 3, K_ENUM = 4, K_ARRAY = 5 };

typedef struct {
    PyObject_HEAD
    PyObject *name;
    PyObject *pages;     /* the kernel's page cache dict */
    PyObject *wrap;      /* K_VIEW: view class; K_CALL: f(v); K_ENUM: f(v, extra);
                            K_ARRAY: an ArrayBase subclass, extra its spec */
    PyObject *extra;
    PyObject *fget;      /* the pure-Python getter: slow path and member() */
    PyObject *doc;
    uint64_t off;
    unsigned size;
    int is_signed;
    int kind;
    Py_ssize_t nbytes;   /* K_ARRAY */
} Field;

static PyObject *
Field_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"name", "offset", "size", "signed", "kind", "pages", "wrap",
                             "extra", "fget", "doc", NULL};
    PyObject *name, *pages, *wrap, *extra, *fget, *doc = Py_None;
    unsigned long long off;
    unsigned size;
    int is_signed, kind;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "UKIpiO!OOO|O", kwlist, &name, &off, &size,
                                     &is_signed, &kind, &PyDict_Type, &pages, &wrap, &extra,
                                     &fget, &doc))
        return NULL;
    if (kind != K_ARRAY && size != 1 && size != 2 && size != 4 && size != 8) {
        PyErr_SetString(PyExc_ValueError, "size must be 1, 2, 4 or 8");
        return NULL;
    }
    if (kind < K_INT || kind > K_ARRAY) {
        PyErr_SetString(PyExc_ValueError, "bad kind");
        return NULL;
    }
    if (kind == K_VIEW && !(PyType_Check(wrap) &&
                            PyType_IsSubtype((PyTypeObject *)wrap, &ViewBase_Type))) {
        PyErr_SetString(PyExc_TypeError, "wrap must be a ViewBase subclass");
        return NULL;
    }
    Py_ssize_t nbytes = -1;
    if (kind == K_ARRAY) {
        if (!(PyType_Check(wrap) &&
              PyType_IsSubtype((PyTypeObject *)wrap, &ArrayBase_Type))) {
            PyErr_SetString(PyExc_TypeError, "wrap must be an ArrayBase subclass");
            return NULL;
        }
        nbytes = spec_nbytes(extra);
        if (nbytes == -2)
            return NULL;
    }
    Field *f = (Field *)type->tp_alloc(type, 0);
    if (f == NULL)
        return NULL;
    Py_INCREF(name); f->name = name;
    Py_INCREF(pages); f->pages = pages;
    Py_INCREF(wrap); f->wrap = wrap;
    Py_INCREF(extra); f->extra = extra;
    Py_INCREF(fget); f->fget = fget;
    Py_INCREF(doc); f->doc = doc;
    f->off = off;
    f->size = size;
    f->is_signed = is_signed;
    f->kind = kind;
    f->nbytes = nbytes;
    return (PyObject *)f;
}

static int
Field_traverse(Field *f, visitproc visit, void *arg)
{
    Py_VISIT(f->name);
    Py_VISIT(f->pages);
    Py_VISIT(f->wrap);
    Py_VISIT(f->extra);
    Py_VISIT(f->fget);
    Py_VISIT(f->doc);
    return 0;
}

static int
Field_clear(Field *f)
{
    Py_CLEAR(f->name);
    Py_CLEAR(f->pages);
    Py_CLEAR(f->wrap);
    Py_CLEAR(f->extra);
    Py_CLEAR(f->fget);
    Py_CLEAR(f->doc);
    return 0;
}

static void
Field_dealloc(Field *f)
{
    PyObject_GC_UnTrack(f);
    Field_clear(f);
    Py_TYPE(f)->tp_free((PyObject *)f);
}

static PyObject *
Field_get(Field *f, PyObject *obj, PyObject *type)
{
    if (obj == NULL || obj == Py_None) {
        Py_INCREF(f);
        return (PyObject *)f;
    }
    if (!PyObject_TypeCheck(obj, &ViewBase_Type))
        return PyObject_CallOneArg(f->fget, obj);
    ViewBase *v = (ViewBase *)obj;
    if (f->kind == K_ARRAY) {
        return new_array((PyTypeObject *)f->wrap, v->k, NULL, v->ua + f->off, f->extra,
                         f->pages, f->nbytes);
    }
    uint64_t raw;
    int r = read_fast(f->pages, v->ua + f->off, f->size, &raw);
    if (r < 0)
        return NULL;
    if (r == 0)
        return PyObject_CallOneArg(f->fget, obj);
    switch (f->kind) {
    case K_BOOL:
        return PyBool_FromLong(raw != 0);
    case K_VIEW:
        return new_view((PyTypeObject *)f->wrap, v->k, NULL, raw);
    case K_CALL: {
        PyObject *a = int_of(raw, f->size, f->is_signed);
        if (a == NULL)
            return NULL;
        PyObject *res = PyObject_CallOneArg(f->wrap, a);
        Py_DECREF(a);
        return res;
    }
    case K_ENUM: {
        PyObject *a = int_of(raw, f->size, f->is_signed);
        if (a == NULL)
            return NULL;
        PyObject *res = PyObject_CallFunctionObjArgs(f->wrap, a, f->extra, NULL);
        Py_DECREF(a);
        return res;
    }
    default:
        return int_of(raw, f->size, f->is_signed);
    }
}

static int
Field_set(Field *f, PyObject *obj, PyObject *value)
{
    PyErr_Format(PyExc_AttributeError, "member '%U' is read-only", f->name);
    return -1;
}

static PyMemberDef Field_members[] = {
    {"fget", T_OBJECT, offsetof(Field, fget), READONLY, "the pure-Python getter"},
    {"__doc__", T_OBJECT, offsetof(Field, doc), READONLY, NULL},
    {"name", T_OBJECT, offsetof(Field, name), READONLY, "the member's name"},
    {NULL},
};

static PyTypeObject Field_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "kmemx._speedups.Field",
    .tp_basicsize = sizeof(Field),
    .tp_dealloc = (destructor)Field_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A compiled scalar struct member (a read-only data descriptor).",
    .tp_traverse = (traverseproc)Field_traverse,
    .tp_clear = (inquiry)Field_clear,
    .tp_members = Field_members,
    .tp_descr_get = (descrgetfunc)Field_get,
    .tp_descr_set = (descrsetfunc)Field_set,
    .tp_new = Field_new,
};

/* -- attribute access of views ----------------------------------------------
 *
 * A view's members are Field descriptors on its class: ViewBase's getattro
 * finds the descriptor with one type lookup and reads the member, where the
 * generic path (and a Python __getattr__, which would make every access go
 * through slot_tp_getattr_hook) looks the name up three times.  Anything else
 * is the generic lookup; a name that is not there goes to the class's
 * ``_missing_member(self, name)`` (View compiles the member there), as a
 * Python ``__getattr__`` would. */

static PyObject *missing_member_name;  /* "_missing_member" */
static PyObject *is_pointer_name;      /* "_is_pointer" */

static PyObject *
ViewBase_getattro(PyObject *self, PyObject *name)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (PyUnicode_CheckExact(name)) {
        PyObject *descr = _PyType_Lookup(tp, name);
        if (descr != NULL && Py_IS_TYPE(descr, &Field_Type))
            return Field_get((Field *)descr, self, (PyObject *)tp);
    }
    PyObject *res = PyObject_GenericGetAttr(self, name);
    if (res != NULL || !PyErr_ExceptionMatches(PyExc_AttributeError))
        return res;
    /* _PyType_Lookup() must not run with an exception set (a type-cache
     * miss would take it for its own error and clear it) */
    PyObject *exc, *val, *tb;
    PyErr_Fetch(&exc, &val, &tb);
    PyObject *hook = _PyType_Lookup(tp, missing_member_name);
    if (hook == NULL) {
        PyErr_Restore(exc, val, tb);
        return NULL;
    }
    Py_XDECREF(exc);
    Py_XDECREF(val);
    Py_XDECREF(tb);
    Py_INCREF(hook);
    res = PyObject_CallFunctionObjArgs(hook, self, name, NULL);
    Py_DECREF(hook);
    return res;
}

/* ``bool(view)``: a pointer view is false when NULL, a struct view true. */
static int
ViewBase_bool(ViewBase *self)
{
    PyObject *isp = _PyType_Lookup(Py_TYPE(self), is_pointer_name);
    if (isp == NULL || !PyObject_IsTrue(isp))
        return 1;
    return self->a != NULL ? PyObject_IsTrue(self->a) : self->ua != 0;
}

static PyNumberMethods ViewBase_as_number = {
    .nb_bool = (inquiry)ViewBase_bool,
};

/* -- UIntReader: k.read_u8 ... k.read_u64 ---------------------------------- */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *pages;
    PyObject *slow;      /* slow(addr) -> int: misses, faults, page crossings */
    unsigned size;
} UIntReader;

static PyObject *
UIntReader_vectorcall(UIntReader *self, PyObject *const *args, size_t nargsf,
                      PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs != 1 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0)) {
        PyErr_SetString(PyExc_TypeError, "read takes one address");
        return NULL;
    }
    PyObject *addr = args[0];
    if (PyLong_CheckExact(addr)) {
        uint64_t a = PyLong_AsUnsignedLongLong(addr);
        if (a == (uint64_t)-1 && PyErr_Occurred()) {
            PyErr_Clear(); /* negative or too big: the slow path decides */
        } else {
            uint64_t v;
            int r = read_fast(self->pages, a, self->size, &v);
            if (r < 0)
                return NULL;
            if (r > 0)
                return PyLong_FromUnsignedLongLong(v);
        }
    }
    return PyObject_CallOneArg(self->slow, addr);
}

static PyObject *
UIntReader_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"pages", "size", "slow", NULL};
    PyObject *pages, *slow;
    unsigned size;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!IO", kwlist, &PyDict_Type, &pages, &size,
                                     &slow))
        return NULL;
    if (size != 1 && size != 2 && size != 4 && size != 8) {
        PyErr_SetString(PyExc_ValueError, "size must be 1, 2, 4 or 8");
        return NULL;
    }
    UIntReader *self = (UIntReader *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->vectorcall = (vectorcallfunc)UIntReader_vectorcall;
    Py_INCREF(pages); self->pages = pages;
    Py_INCREF(slow); self->slow = slow;
    self->size = size;
    return (PyObject *)self;
}

static int
UIntReader_traverse(UIntReader *self, visitproc visit, void *arg)
{
    Py_VISIT(self->pages);
    Py_VISIT(self->slow);
    return 0;
}

static int
UIntReader_clear(UIntReader *self)
{
    Py_CLEAR(self->pages);
    Py_CLEAR(self->slow);
    return 0;
}

static void
UIntReader_dealloc(UIntReader *self)
{
    PyObject_GC_UnTrack(self);
    UIntReader_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject UIntReader_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "kmemx._speedups.UIntReader",
    .tp_basicsize = sizeof(UIntReader),
    .tp_dealloc = (destructor)UIntReader_dealloc,
    .tp_vectorcall_offset = offsetof(UIntReader, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "UIntReader(pages, size, slow): read an unsigned int at an address, "
              "from the page cache or else with slow(address).",
    .tp_traverse = (traverseproc)UIntReader_traverse,
    .tp_clear = (inquiry)UIntReader_clear,
    .tp_new = UIntReader_new,
};

/* -- RowBase: a command's table row (columns, cells, obj) ------------------ */

typedef struct {
    PyObject_HEAD
    PyObject *columns;
    PyObject *cells;
    PyObject *obj;
} RowBase;

static PyObject *
as_tuple(PyObject *seq)
{
    if (PyTuple_CheckExact(seq)) {
        Py_INCREF(seq);
        return seq;
    }
    return PySequence_Tuple(seq);
}

/* A cell that is an int, float, str or bytes (or a subclass that adds no
 * attributes: Address, Size, a Pid...) refers to nothing but its type, so it
 * can never be part of a reference cycle. */
static int
is_atomic_cell(PyObject *o)
{
    PyTypeObject *t = Py_TYPE(o), *base;
    if (!PyObject_IS_GC(o) || t->tp_dictoffset != 0)
        return 0;
    if (PyLong_Check(o))
        base = &PyLong_Type;
    else if (PyFloat_Check(o))
        base = &PyFloat_Type;
    else if (PyUnicode_Check(o))
        base = &PyUnicode_Type;
    else if (PyBytes_Check(o))
        base = &PyBytes_Type;
    else
        return 0;
    return t->tp_basicsize == base->tp_basicsize && t->tp_itemsize == base->tp_itemsize;
}

/* Take a row's atomic cells, and then its cells tuple when nothing in it is
 * left, out of the cyclic GC's sight, as CPython does for tuples of ints: a
 * table of thousands of typed cells is then not re-scanned by every
 * collection while it is built. */
static void
untrack_cells(PyObject *cells)
{
    Py_ssize_t n = PyTuple_GET_SIZE(cells);
    int all = 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = PyTuple_GET_ITEM(cells, i);
        if (!PyObject_IS_GC(o))
            continue;
        if (PyObject_GC_IsTracked(o)) {
            if (is_atomic_cell(o))
                PyObject_GC_UnTrack(o);
            else
                all = 0;
        }
    }
    if (all && PyObject_GC_IsTracked(cells))
        PyObject_GC_UnTrack(cells);
}

/* A value that refers to nothing a cycle could pass through: None, an
 * object the cyclic GC does not track, or an atomic cell. */
static int
is_atomic_value(PyObject *o)
{
    return o == Py_None || !PyObject_IS_GC(o) || !PyObject_GC_IsTracked(o) ||
           is_atomic_cell(o);
}

/* Take a row whose columns, cells and object are all atomic (slab's ADDRESS
 * rows: 31k of them) out of the cyclic GC's sight too, as CPython does for a
 * tuple of ints: it can be part of no cycle.  Rows that survive a collection
 * are otherwise counted towards the next full collection, which scans the
 * whole heap (10-50 ms here).  Setting a member tracks the row again. */
static void
maybe_untrack_row(PyObject *row, PyObject *columns, PyObject *cells, PyObject *obj)
{
    if (!PyObject_GC_IsTracked(row) || PyObject_GC_IsTracked(cells) || !is_atomic_value(obj))
        return;
    Py_ssize_t n = PyTuple_GET_SIZE(columns);
    for (Py_ssize_t i = 0; i < n; i++)
        if (!PyUnicode_CheckExact(PyTuple_GET_ITEM(columns, i)))
            return;
    PyObject_GC_UnTrack(row);
}

static PyObject *
RowBase_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"columns", "cells", "obj", NULL};
    PyObject *columns, *cells, *obj = Py_None;
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    if ((kwds == NULL || PyDict_GET_SIZE(kwds) == 0) && (n == 2 || n == 3)) {
        columns = PyTuple_GET_ITEM(args, 0);
        cells = PyTuple_GET_ITEM(args, 1);
        if (n == 3)
            obj = PyTuple_GET_ITEM(args, 2);
    } else if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|O", kwlist, &columns, &cells,
                                            &obj)) {
        return NULL;
    }
    PyObject *c = as_tuple(columns);
    if (c == NULL)
        return NULL;
    PyObject *v = as_tuple(cells);
    if (v == NULL) {
        Py_DECREF(c);
        return NULL;
    }
    untrack_cells(v);
    RowBase *self = (RowBase *)type->tp_alloc(type, 0);
    if (self == NULL) {
        Py_DECREF(c);
        Py_DECREF(v);
        return NULL;
    }
    self->columns = c;
    self->cells = v;
    Py_INCREF(obj);
    self->obj = obj;
    maybe_untrack_row((PyObject *)self, c, v, obj);
    return (PyObject *)self;
}

static int
RowBase_traverse(RowBase *self, visitproc visit, void *arg)
{
    Py_VISIT(self->columns);
    Py_VISIT(self->cells);
    Py_VISIT(self->obj);
    return 0;
}

static int
RowBase_clear(RowBase *self)
{
    Py_CLEAR(self->columns);
    Py_CLEAR(self->cells);
    Py_CLEAR(self->obj);
    return 0;
}

static void
RowBase_dealloc(RowBase *self)
{
    PyObject_GC_UnTrack(self);
    RowBase_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* the members, read and set as PyMemberDef's T_OBJECT_EX / T_OBJECT did;
 * setting one tracks a row maybe_untrack_row() took out of the GC's sight */
static PyObject *
RowBase_get(RowBase *self, void *closure)
{
    PyObject *v = *(PyObject **)((char *)self + (Py_ssize_t)closure);
    if (v == NULL) {
        if ((Py_ssize_t)closure == offsetof(RowBase, obj))
            Py_RETURN_NONE;
        PyErr_SetString(PyExc_AttributeError, "row member not set");
        return NULL;
    }
    return Py_NewRef(v);
}

static int
RowBase_set(RowBase *self, PyObject *value, void *closure)
{
    PyObject **slot = (PyObject **)((char *)self + (Py_ssize_t)closure);
    Py_XINCREF(value);
    Py_XSETREF(*slot, value);
    if (!PyObject_GC_IsTracked((PyObject *)self))
        PyObject_GC_Track((PyObject *)self);
    return 0;
}

static PyGetSetDef RowBase_getset[] = {
    {"columns", (getter)RowBase_get, (setter)RowBase_set, "the column names",
     (void *)offsetof(RowBase, columns)},
    {"cells", (getter)RowBase_get, (setter)RowBase_set, "the typed cells",
     (void *)offsetof(RowBase, cells)},
    {"obj", (getter)RowBase_get, (setter)RowBase_set, "the object the row describes",
     (void *)offsetof(RowBase, obj)},
    {NULL},
};

static PyTypeObject RowBase_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "kmemx._speedups.RowBase",
    .tp_basicsize = sizeof(RowBase),
    .tp_dealloc = (destructor)RowBase_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "RowBase(columns, cells, obj=None): the base of kmemx.commands.Row.",
    .tp_traverse = (traverseproc)RowBase_traverse,
    .tp_clear = (inquiry)RowBase_clear,
    .tp_getset = RowBase_getset,
    .tp_new = RowBase_new,
};

PyDoc_STRVAR(cell_rows_doc,
"cell_rows(row_type, columns, cell_type, values) -> list\n\n"
"``[row_type(columns, (c,), c) for c in map(cell_type, values)]``: one row a\n"
"value, its one cell also its object (``slab``'s ADDRESS rows), built\n"
"without a Python frame.  ``row_type`` is a subclass of RowBase, ``columns``\n"
"a tuple, ``values`` a list.");

/* ``cls(v)`` for an int subclass that adds nothing (Address, Size, Pid...:
 * int's tp_new, object's tp_init, int's size): the digits copied into a new
 * instance, as CPython's long_subtype_new() does, without its argument
 * parsing and temporary int (~100 ns of a 160 ns call).  Any other class or
 * value is called. */
static PyObject *
int_cell(PyObject *cls, PyObject *v)
{
#if PY_VERSION_HEX < 0x030C0000  /* ob_size/ob_digit: the layout before 3.12 */
    PyTypeObject *t = (PyTypeObject *)cls;
    if (PyLong_CheckExact(v) && PyType_Check(cls) && t->tp_new == PyLong_Type.tp_new &&
        t->tp_init == PyBaseObject_Type.tp_init &&
        t->tp_basicsize == PyLong_Type.tp_basicsize &&
        t->tp_itemsize == PyLong_Type.tp_itemsize && PyType_IsSubtype(t, &PyLong_Type)) {
        PyLongObject *src = (PyLongObject *)v;
        Py_ssize_t size = Py_SIZE(src), n = size < 0 ? -size : size;
        PyLongObject *o = (PyLongObject *)t->tp_alloc(t, n ? n : 1);
        if (o == NULL)
            return NULL;
        Py_SET_SIZE(o, size);
        for (Py_ssize_t i = 0; i < n; i++)
            o->ob_digit[i] = src->ob_digit[i];
        return (PyObject *)o;
    }
#endif
    return PyObject_CallOneArg(cls, v);
}

static PyObject *
cell_rows(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyType_Check(args[0]) ||
        !PyType_IsSubtype((PyTypeObject *)args[0], &RowBase_Type) ||
        !PyTuple_CheckExact(args[1]) || !PyList_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError,
                        "cell_rows(row_type: type[RowBase], columns: tuple, cell_type, "
                        "values: list)");
        return NULL;
    }
    PyTypeObject *row_type = (PyTypeObject *)args[0];
    PyObject *columns = args[1], *cell_type = args[2], *values = args[3];
    Py_ssize_t n = PyList_GET_SIZE(values);
    PyObject *res = PyList_New(n);
    if (res == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *cell = int_cell(cell_type, PyList_GET_ITEM(values, i));
        if (cell == NULL)
            goto fail;
        PyObject *cells = PyTuple_Pack(1, cell);
        if (cells == NULL) {
            Py_DECREF(cell);
            goto fail;
        }
        untrack_cells(cells);
        RowBase *row = (RowBase *)row_type->tp_alloc(row_type, 0);
        if (row == NULL) {
            Py_DECREF(cell);
            Py_DECREF(cells);
            goto fail;
        }
        Py_INCREF(columns);
        row->columns = columns;
        row->cells = cells;
        row->obj = cell;  /* the reference from the call */
        maybe_untrack_row((PyObject *)row, columns, cells, cell);
        PyList_SET_ITEM(res, i, (PyObject *)row);
    }
    return res;
fail:
    Py_DECREF(res);  /* unset items are NULL: list_dealloc skips them */
    return NULL;
}

PyDoc_STRVAR(ps_rows_doc,
"ps_rows(env, tasks, raws, active, split) -> (rows, keys)\n\n"
"The rows of plugins/tasks.py's ``ps_rows()`` that need nothing new, built\n"
"without a Python frame: ``rows[i]`` is the row of ``tasks[i]`` (a view) from\n"
"``raws[i]`` (what ``_PsReader`` read: pid, tgid, comm, flags, state,\n"
"exit_state, cpu, ppid, total_vm, file, anon, shmem[, mm]), or None where\n"
"the Python code must make it: no raw, a value not an int, or a cell not\n"
"yet in the caches (it adds it there).  ``keys[i]``: the row's\n"
"``PID << 32 | CPU``.  ``env``: (Row, columns, Pid, ActivePid, Address,\n"
"sizes, percents, states, comms, PF_KTHREAD); ``split``: mm -> [file, anon,\n"
"shmem] events to add.  The caches are the Python code's dicts: value ->\n"
"cell, (state << 8 | exit_state) -> name, (comm, kthread) -> cell.");

/* a counter as get_mm_rss() adds it: a negative one counts as 0 */
static inline long long
rss_part(long long v)
{
    return v > 0 ? v : 0;
}

static PyObject *
ps_rows(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 || !PyTuple_Check(args[0]) || PyTuple_GET_SIZE(args[0]) != 10 ||
        !PyList_Check(args[1]) || !PyList_Check(args[2]) ||
        PyList_GET_SIZE(args[1]) != PyList_GET_SIZE(args[2]) || !PyAnySet_Check(args[3]) ||
        !PyDict_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError,
                        "ps_rows(env: tuple, tasks: list, raws: list, active: set, split: dict)");
        return NULL;
    }
    PyObject *env = args[0], *tasks = args[1], *raws = args[2], *active = args[3];
    PyObject *split = args[4];
    PyObject *row_t = PyTuple_GET_ITEM(env, 0), *columns = PyTuple_GET_ITEM(env, 1);
    PyObject *pid_t = PyTuple_GET_ITEM(env, 2), *apid_t = PyTuple_GET_ITEM(env, 3);
    PyObject *addr_t = PyTuple_GET_ITEM(env, 4), *sizes = PyTuple_GET_ITEM(env, 5);
    PyObject *percents = PyTuple_GET_ITEM(env, 6), *states = PyTuple_GET_ITEM(env, 7);
    PyObject *comms = PyTuple_GET_ITEM(env, 8);
    long long kmask = PyLong_AsLongLong(PyTuple_GET_ITEM(env, 9));
    if (kmask == -1 && PyErr_Occurred())
        return NULL;
    if (!PyType_Check(row_t) || !PyType_IsSubtype((PyTypeObject *)row_t, &RowBase_Type) ||
        !PyTuple_CheckExact(columns) || !PyDict_Check(sizes) || !PyDict_Check(percents) ||
        !PyDict_Check(states) || !PyDict_Check(comms)) {
        PyErr_SetString(PyExc_TypeError, "ps_rows: a bad env");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(tasks);
    PyObject *rows = PyList_New(n), *keys = PyList_New(n), *res = NULL;
    if (rows == NULL || keys == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = PyList_GET_ITEM(tasks, i), *vals = PyList_GET_ITEM(raws, i);
        PyList_SET_ITEM(rows, i, Py_NewRef(Py_None));
        PyList_SET_ITEM(keys, i, Py_NewRef(Py_None));
        if (!PyObject_TypeCheck(t, &ViewBase_Type) || !PyTuple_CheckExact(vals) ||
            PyTuple_GET_SIZE(vals) < 12)
            continue;
        long long v[12];
        int ok = 1, nomm = 0;
        for (int j = 0; j < 12 && ok; j++) {
            PyObject *o = PyTuple_GET_ITEM(vals, j);
            v[j] = 0;
            if (j == 2)
                ok = PyBytes_CheckExact(o);
            else if (j == 8 && o == Py_None)
                nomm = 1;
            else if (j >= 9 && nomm)
                continue;   /* None, as the mm's other members */
            else if (!PyLong_CheckExact(o))
                ok = 0;
            else {
                int overflow;
                v[j] = PyLong_AsLongLongAndOverflow(o, &overflow);
                if (overflow || (v[j] == -1 && PyErr_Occurred()))
                    ok = 0;
            }
        }
        if (!ok) {
            PyErr_Clear();
            continue;
        }
        /* values the Python code handles (or shifts) differently in C */
        if (v[0] < 0 || v[0] >= (1LL << 31) || v[6] < 0 || v[6] >= (1LL << 32) || v[4] < 0 ||
            v[4] >= (1LL << 54) || v[5] < 0 || v[5] >= 256)
            continue;
        long long vsz = v[8], rss;
        if (nomm) {
            vsz = rss = 0;
        } else if (vsz < 0) {
            continue;
        } else {
            long long f = v[9], a = v[10], sh = v[11];
            if (PyDict_GET_SIZE(split) && PyTuple_GET_SIZE(vals) > 12) {
                PyObject *ev = PyDict_GetItemWithError(split, PyTuple_GET_ITEM(vals, 12));
                if (ev == NULL && PyErr_Occurred())
                    goto done;
                if (ev != NULL) {
                    if (!PyList_CheckExact(ev) || PyList_GET_SIZE(ev) != 3)
                        continue;
                    long long d[3];
                    for (int j = 0; j < 3; j++) {
                        d[j] = PyLong_AsLongLong(PyList_GET_ITEM(ev, j));
                        if (d[j] == -1 && PyErr_Occurred()) {
                            PyErr_Clear();
                            ok = 0;
                        }
                    }
                    if (!ok)
                        continue;
                    f += d[0];
                    a += d[1];
                    sh += d[2];
                }
            }
            rss = rss_part(f) + rss_part(a) + rss_part(sh);
        }
        PyObject *vcell, *rcell, *pcell, *st, *comm;
        {
            PyObject *kv = PyLong_FromLongLong(vsz), *kr = PyLong_FromLongLong(rss);
            if (kv == NULL || kr == NULL) {
                Py_XDECREF(kv);
                Py_XDECREF(kr);
                goto done;
            }
            vcell = PyDict_GetItemWithError(sizes, kv);
            rcell = vcell ? PyDict_GetItemWithError(sizes, kr) : NULL;
            pcell = rcell ? PyDict_GetItemWithError(percents, kr) : NULL;
            Py_DECREF(kv);
            Py_DECREF(kr);
            if (PyErr_Occurred())
                goto done;
            if (pcell == NULL)
                continue;
        }
        {
            PyObject *ks = PyLong_FromLongLong(v[4] << 8 | v[5]);
            if (ks == NULL)
                goto done;
            st = PyDict_GetItemWithError(states, ks);
            Py_DECREF(ks);
            if (st == NULL) {
                if (PyErr_Occurred())
                    goto done;
                continue;
            }
        }
        {
            PyObject *kc = Py_BuildValue("(OL)", PyTuple_GET_ITEM(vals, 2), v[3] & kmask);
            if (kc == NULL)
                goto done;
            comm = PyDict_GetItemWithError(comms, kc);
            Py_DECREF(kc);
            if (comm == NULL) {
                if (PyErr_Occurred())
                    goto done;
                continue;
            }
        }
        PyObject *addr = lazy_address(&((ViewBase *)t)->a, ((ViewBase *)t)->ua);
        if (addr == NULL)
            goto done;
        int act = PySet_Contains(active, addr);
        if (act < 0) {
            Py_DECREF(addr);
            goto done;
        }
        PyObject *cells = PyTuple_New(9);
        if (cells == NULL) {
            Py_DECREF(addr);
            goto done;
        }
        PyObject *pid = PyTuple_GET_ITEM(vals, 0);
        PyTuple_SET_ITEM(cells, 0, int_cell(act ? apid_t : pid_t, pid));
        /* (ppid or 0) if pid else 0: the idle tasks' parent is 0 */
        PyTuple_SET_ITEM(cells, 1, v[0] ? Py_NewRef(PyTuple_GET_ITEM(vals, 7)) :
                                          PyLong_FromLong(0));
        PyTuple_SET_ITEM(cells, 2, Py_NewRef(PyTuple_GET_ITEM(vals, 6)));
        PyTuple_SET_ITEM(cells, 3, int_cell(addr_t, addr));
        PyTuple_SET_ITEM(cells, 4, Py_NewRef(st));
        PyTuple_SET_ITEM(cells, 5, Py_NewRef(pcell));
        PyTuple_SET_ITEM(cells, 6, Py_NewRef(vcell));
        PyTuple_SET_ITEM(cells, 7, Py_NewRef(rcell));
        PyTuple_SET_ITEM(cells, 8, Py_NewRef(comm));
        Py_DECREF(addr);
        if (PyTuple_GET_ITEM(cells, 0) == NULL || PyTuple_GET_ITEM(cells, 1) == NULL ||
            PyTuple_GET_ITEM(cells, 3) == NULL) {
            Py_DECREF(cells);
            goto done;
        }
        untrack_cells(cells);
        RowBase *row = (RowBase *)((PyTypeObject *)row_t)->tp_alloc((PyTypeObject *)row_t, 0);
        if (row == NULL) {
            Py_DECREF(cells);
            goto done;
        }
        row->columns = Py_NewRef(columns);
        row->cells = cells;
        row->obj = Py_NewRef(t);
        PyObject *key = PyLong_FromLongLong(v[0] << 32 | v[6]);
        if (key == NULL) {
            Py_DECREF(row);
            goto done;
        }
        PyList_SetItem(rows, i, (PyObject *)row);  /* steals; drops the None */
        PyList_SetItem(keys, i, key);
    }
    res = PyTuple_Pack(2, rows, keys);
done:
    Py_XDECREF(rows);
    Py_XDECREF(keys);
    return res;
}

PyDoc_STRVAR(rss_event_sums_doc,
"rss_event_sums(batches, at) -> dict | None\n\n"
"kmemx.helpers.mm.split_rss_sums() over raw task reads: ``batches`` is a\n"
"list of lists of tuples (or None), each holding a ``struct mm_struct *`` at\n"
"``at`` and the task's (file, anon, shmem) RSS events after it; mm -> the\n"
"three sums over the tasks with an mm and an event.  None when a value is\n"
"not an int that fits 64 bits (the Python twin does it then).");

static PyObject *
rss_event_sums(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t at = nargs == 2 ? PyLong_AsSsize_t(args[1]) : -1;
    if (nargs != 2 || !PyList_Check(args[0]) || at < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "rss_event_sums(batches: list, at: int)");
        return NULL;
    }
    PyObject *sums = PyDict_New();
    if (sums == NULL)
        return NULL;
    for (Py_ssize_t b = 0; b < PyList_GET_SIZE(args[0]); b++) {
        PyObject *raws = PyList_GET_ITEM(args[0], b);
        if (!PyList_Check(raws))
            goto python;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(raws); i++) {
            PyObject *raw = PyList_GET_ITEM(raws, i);
            if (raw == Py_None)
                continue;
            if (!PyTuple_CheckExact(raw) || PyTuple_GET_SIZE(raw) < at + 4)
                goto python;
            long long ev[3];
            int any = 0;
            for (int j = 0; j < 3; j++) {
                PyObject *o = PyTuple_GET_ITEM(raw, at + 1 + j);
                int overflow;
                if (!PyLong_CheckExact(o))
                    goto python;
                ev[j] = PyLong_AsLongLongAndOverflow(o, &overflow);
                if (overflow || (ev[j] == -1 && PyErr_Occurred()))
                    goto python;
                any |= ev[j] != 0;
            }
            PyObject *mm = PyTuple_GET_ITEM(raw, at);
            if (!any)
                continue;
            if (!PyLong_CheckExact(mm))
                goto python;
            if (_PyLong_Sign(mm) == 0)
                continue;
            PyObject *acc = PyDict_GetItemWithError(sums, mm);
            if (acc == NULL) {
                if (PyErr_Occurred())
                    goto fail;
                acc = Py_BuildValue("[LLL]", ev[0], ev[1], ev[2]);
                if (acc == NULL || PyDict_SetItem(sums, mm, acc) < 0) {
                    Py_XDECREF(acc);
                    goto fail;
                }
                Py_DECREF(acc);
                continue;
            }
            for (int j = 0; j < 3; j++) {
                PyObject *old = PyList_GET_ITEM(acc, j);
                int overflow;
                long long v = PyLong_AsLongLongAndOverflow(old, &overflow);
                if (overflow || (v == -1 && PyErr_Occurred()) ||
                    __builtin_add_overflow(v, ev[j], &v))
                    goto python;
                PyObject *nv = PyLong_FromLongLong(v);
                if (nv == NULL)
                    goto fail;
                PyList_SetItem(acc, j, nv);
            }
        }
    }
    return sums;
python:
    PyErr_Clear();
    Py_DECREF(sums);
    Py_RETURN_NONE;
fail:
    Py_DECREF(sums);
    return NULL;
}

PyDoc_STRVAR(take_until_doc,
"take_until(iterator, n, sentinel) -> (items, done, error)\n\n"
"Up to ``n`` items of ``iterator``, stopping after an item that is\n"
"``sentinel``: kmemx.commands.pipeline.gc_paused()'s batch, without a Python\n"
"frame per item.  ``done``: the iterator is exhausted; ``error``: the\n"
"exception it raised after ``items`` (None if none).");

static PyObject *
take_until(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyIter_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "take_until(iterator, n: int, sentinel)");
        return NULL;
    }
    PyObject *it = args[0], *sentinel = args[2];
    Py_ssize_t n = PyLong_AsSsize_t(args[1]);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    iternextfunc next = Py_TYPE(it)->tp_iternext;
    int done = 0;
    PyObject *error = Py_None;
    Py_INCREF(error);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = next(it);
        if (item == NULL) {
            if (PyErr_Occurred()) {
                if (PyErr_ExceptionMatches(PyExc_StopIteration)) {
                    PyErr_Clear();
                    done = 1;
                } else {
                    PyObject *type, *value, *tb;
                    PyErr_Fetch(&type, &value, &tb);
                    PyErr_NormalizeException(&type, &value, &tb);
                    if (tb != NULL && value != NULL)
                        PyException_SetTraceback(value, tb);
                    Py_XDECREF(type);
                    Py_XDECREF(tb);
                    if (value == NULL) {
                        Py_DECREF(out);
                        return NULL;
                    }
                    Py_SETREF(error, value);
                }
            } else {
                done = 1;
            }
            break;
        }
        int e = PyList_Append(out, item);
        Py_DECREF(item);
        if (e < 0) {
            Py_DECREF(out);
            Py_DECREF(error);
            return NULL;
        }
        if (item == sentinel)
            break;
    }
    PyObject *res = Py_BuildValue("(NON)", out, done ? Py_True : Py_False, error);
    return res;
}

/* -- list walking ---------------------------------------------------------- */

/* The list walk of walk_links() and thread_nodes(): from ``node`` on, append
 * each node to ``out`` and go to the pointer at ``node + link_off``, until
 * ``head`` (when ``has_head``), ``count`` nodes, or a read off the fast path
 * (not cached, across a page).  1: at the head, 0: stopped elsewhere, -1:
 * an error; ``*end`` is the node it stopped at. */
static int
walk_to_head(PyObject *pages, PageMemo *memo, uint64_t node, int has_head, uint64_t head,
             uint64_t link_off, Py_ssize_t count, PyObject *out, uint64_t *end)
{
    for (Py_ssize_t n = 0; n < count && !(has_head && node == head); n++) {
        uint64_t next;
        int r = memo_read(pages, memo, node + link_off, 8, &next);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        PyObject *x = PyLong_FromUnsignedLongLong(node);
        if (x == NULL)
            return -1;
        int e = PyList_Append(out, x);
        Py_DECREF(x);
        if (e < 0)
            return -1;
        node = next;
    }
    *end = node;
    return has_head && node == head;
}

PyDoc_STRVAR(walk_links_doc,
"walk_links(pages, node, head, link_off, count, out) -> node\n\n"
"Append ``node`` and its successors (the pointer at ``node + link_off``) to\n"
"the list ``out`` until ``head``, ``count`` appended, or a successor that is\n"
"not readable on the fast path.  Returns the next node not appended.");

static PyObject *
walk_links(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6 || !PyDict_Check(args[0]) || !PyList_Check(args[5])) {
        PyErr_SetString(PyExc_TypeError,
                        "walk_links(pages: dict, node, head, link_off, count, out: list)");
        return NULL;
    }
    PyObject *pages = args[0], *out = args[5];
    uint64_t node = PyLong_AsUnsignedLongLongMask(args[1]);
    uint64_t head = PyLong_AsUnsignedLongLongMask(args[2]);
    uint64_t link_off = PyLong_AsUnsignedLongLongMask(args[3]);
    Py_ssize_t count = PyLong_AsSsize_t(args[4]);
    if (PyErr_Occurred())
        return NULL;
    /* a negative Python head (hlists pass -1) never matches a node */
    int overflow;
    long long shead = PyLong_AsLongLongAndOverflow(args[2], &overflow);
    if (shead == -1 && PyErr_Occurred())
        return NULL;
    int has_head = !(overflow < 0 || (overflow == 0 && shead < 0));
    /* neighbouring nodes are often on one page (a slab's objects): the memo
     * looks each page up once per call */
    PageMemo memo;
    memo.n = memo.next = 0;
    PyObject *res = NULL;
    if (walk_to_head(pages, &memo, node, has_head, head, link_off, count, out, &node) >= 0)
        res = PyLong_FromUnsignedLongLong(node);
    memo_release(&memo);
    return res;
}

PyDoc_STRVAR(thread_nodes_doc,
"thread_nodes(pages, nodes, sig, head_off, limit) -> list | None\n\n"
"The thread-list nodes of the processes whose ``tasks`` nodes are ``nodes``\n"
"(kmemx.helpers.sched._walk_tasks with signal->thread_head): for each, the\n"
"pointer at ``node + sig`` (task->signal) plus ``head_off`` is the list head,\n"
"and its nodes up to the head are appended, in order.  Each list must get\n"
"back to its head within ``limit`` nodes (so no node is met twice); None\n"
"when it does not or a read is not on the fast path (the Python walk then\n"
"does the batch and reports what is wrong).");

static PyObject *
thread_nodes(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 || !PyDict_Check(args[0]) || !PyList_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError,
                        "thread_nodes(pages: dict, nodes: list, sig, head_off, limit)");
        return NULL;
    }
    PyObject *pages = args[0], *nodes = args[1];
    long long sig = PyLong_AsLongLong(args[2]), head_off = PyLong_AsLongLong(args[3]);
    Py_ssize_t limit = PyLong_AsSsize_t(args[4]);
    if (PyErr_Occurred())
        return NULL;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    PageMemo memo;
    memo.n = memo.next = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(nodes); i++) {
        uint64_t node = PyLong_AsUnsignedLongLongMask(PyList_GET_ITEM(nodes, i));
        if (node == (uint64_t)-1 && PyErr_Occurred())
            goto fail;
        uint64_t signal, first, end;
        int r = memo_read(pages, &memo, node + (uint64_t)sig, 8, &signal);
        if (r <= 0)
            goto miss_or_fail;
        uint64_t head = signal + (uint64_t)head_off;
        r = memo_read(pages, &memo, head, 8, &first);
        if (r <= 0)
            goto miss_or_fail;
        /* back to its head within limit nodes, or the Python walk does the batch */
        r = walk_to_head(pages, &memo, first, 1, head, 0, limit, out, &end);
        if (r < 0)
            goto fail;
        if (r == 0)
            goto miss;
    }
    memo_release(&memo);
    return out;
miss_or_fail:
    if (PyErr_Occurred())
        goto fail;
miss:
    memo_release(&memo);
    Py_DECREF(out);
    Py_RETURN_NONE;
fail:
    memo_release(&memo);
    Py_DECREF(out);
    return NULL;
}

PyDoc_STRVAR(gather_u64_doc,
"gather_u64(pages, addrs, off) -> list\n\n"
"``[u64 at a + off for a in addrs]``, None where ``a`` is None or the read is\n"
"not on the fast path.  The reads are independent, so the CPU overlaps their\n"
"cache misses: walk many lists a step at a time with it.");

static PyObject *
gather_u64(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyDict_Check(args[0]) || !PyList_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "gather_u64(pages: dict, addrs: list, off)");
        return NULL;
    }
    PyObject *pages = args[0], *addrs = args[1];
    long long off = PyLong_AsLongLong(args[2]);
    if (off == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(addrs);
    PyObject *res = PyList_New(n);
    if (res == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *ao = PyList_GET_ITEM(addrs, i);
        PyObject *v = NULL;
        if (ao != Py_None) {
            uint64_t a = PyLong_AsUnsignedLongLongMask(ao);
            if (a == (uint64_t)-1 && PyErr_Occurred())
                goto fail;
            uint64_t raw;
            int r = read_fast(pages, a + (uint64_t)off, 8, &raw);
            if (r < 0)
                goto fail;
            if (r > 0) {
                v = PyLong_FromUnsignedLongLong(raw);
                if (v == NULL)
                    goto fail;
            }
        }
        if (v == NULL) {
            Py_INCREF(Py_None);
            v = Py_None;
        }
        PyList_SET_ITEM(res, i, v);
    }
    return res;
fail:
    Py_DECREF(res);
    return NULL;
}

/* Ask the CPU for the first two cache lines of each struct at node - off
 * whose page the mirror has: the walk that found the nodes was bound by one
 * cache miss after the other, and the caller's member reads would be too;
 * requested together, the misses overlap.  Structs keep their hottest
 * members first.  Nothing is read, so nothing can fault. */
static void
prefetch_heads(PyObject *k, PyObject *nodes, uint64_t off, PyObject *extra)
{
#if HAVE_MIRROR && defined(__GNUC__)
    PyObject *pages = PyObject_GetAttrString(k, "_pages");
    if (pages == NULL || !PyDict_Check(pages)) {
        Py_XDECREF(pages);
        PyErr_Clear();
        return;
    }
    Py_ssize_t n = PyList_GET_SIZE(nodes);
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t a = PyLong_AsUnsignedLongLongMask(PyList_GET_ITEM(nodes, i)) - off;
        for (uint64_t line = a & ~(uint64_t)63; line < a + 128; line += 64) {
            const unsigned char *page;
            if (mirror_hit(pages, line >> 12, &page))
                __builtin_prefetch(page + (line & PAGE_MASK));
        }
        Py_ssize_t m = extra != NULL ? PyTuple_GET_SIZE(extra) : 0;
        for (Py_ssize_t j = 0; j < m; j++) {
            uint64_t at = a + PyLong_AsUnsignedLongLongMask(PyTuple_GET_ITEM(extra, j));
            const unsigned char *page;
            if (mirror_hit(pages, at >> 12, &page))
                __builtin_prefetch(page + (at & PAGE_MASK));
        }
    }
    PyErr_Clear();
    Py_DECREF(pages);
#endif
}

PyDoc_STRVAR(make_views_doc,
"make_views(cls, k, nodes, off[, prefetch]) -> list\n\n"
"``[cls(k, node - off) for node in nodes]`` for a ViewBase subclass.  The\n"
"first 128 bytes of each struct, and the bytes at each offset of the\n"
"``prefetch`` tuple, are asked of the CPU's caches ahead of the reads.");

static PyObject *
make_views(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 4 || nargs > 5 || !PyType_Check(args[0]) ||
        !PyType_IsSubtype((PyTypeObject *)args[0], &ViewBase_Type) || !PyList_Check(args[2]) ||
        (nargs == 5 && !PyTuple_Check(args[4]))) {
        PyErr_SetString(PyExc_TypeError, "make_views(cls: ViewBase subclass, k, nodes: list, off"
                        "[, prefetch: tuple])");
        return NULL;
    }
    PyTypeObject *cls = (PyTypeObject *)args[0];
    PyObject *k = args[1], *nodes = args[2];
    uint64_t off = PyLong_AsUnsignedLongLongMask(args[3]);
    if (PyErr_Occurred())
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(nodes);
    PyObject *res = PyList_New(n);
    if (res == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t node = PyLong_AsUnsignedLongLongMask(PyList_GET_ITEM(nodes, i));
        if (node == (uint64_t)-1 && PyErr_Occurred())
            goto fail;
        PyObject *a = NULL;  /* below off: a negative int, as Python computes it */
        if (node < off && (a = sub_of(node, off)) == NULL)
            goto fail;
        PyObject *v = new_view(cls, k, a, node - off);
        Py_XDECREF(a);
        if (v == NULL)
            goto fail;
        PyList_SET_ITEM(res, i, v);
    }
    prefetch_heads(k, nodes, off, nargs == 5 ? args[4] : NULL);
    return res;
fail:
    Py_DECREF(res);
    return NULL;
}

/* The kinds of a read_members() spec item.  The ABI is defined in
 * kmemx/types/spec.py (its docstring says what each kind reads, and its
 * pure-Python twin is raw_reader() in kmemx/types/fields.py); these numbers
 * must equal it, which spec.py checks at import through the SPEC_*
 * constants this module exports.  Nothing here knows a kernel structure. */
enum spec_kind {
    SPEC_UNSIGNED = 0,      /* (off, size, 0): an unsigned int */
    SPEC_SIGNED = 1,        /* (off, size, 1): a signed int */
    SPEC_STRING = 2,        /* (off, size, 2): char[size] up to its NUL */
    SPEC_FOLLOW = 3,        /* (off, 8, 3, sub): the tuple sub reads at the pointer */
    SPEC_FOLLOW_INLINE = 4, /* (off, 8, 4, sub): the same, values in place */
    SPEC_S64_PLUS_S32S = 5, /* (off, 8, 5, (ptr_off, offsets)): s64 at off plus
                               the s32 at (pointer at ptr_off) + each offset */
};

PyDoc_STRVAR(read_members_doc,
"read_members(pages, addr, spec) -> tuple | None\n\n"
"Several members of the struct at ``addr``, as ``spec`` says: see\n"
"kmemx/types/spec.py for its items.  None when a member is not on the fast\n"
"path (the caller reads the slow way).");

/* SPEC_S64_PLUS_S32S at ``addr``: the s64 at addr + off plus the s32 at p +
 * each offset, p the pointer at addr + ptr_off (``extra`` is (ptr_off,
 * offsets)).  1, 0 (miss) or -1. */
static int
s64_plus_s32s(PyObject *pages, PageMemo *memo, uint64_t addr, long long off, PyObject *extra,
              long long *out)
{
    if (!PyTuple_Check(extra) || PyTuple_GET_SIZE(extra) != 2 ||
        !PyTuple_Check(PyTuple_GET_ITEM(extra, 1))) {
        PyErr_SetString(PyExc_TypeError, "an s64_plus_s32s item needs (ptr_off, offsets)");
        return -1;
    }
    long long ptr_off = PyLong_AsLongLong(PyTuple_GET_ITEM(extra, 0));
    if (ptr_off == -1 && PyErr_Occurred())
        return -1;
    uint64_t base, ptr;
    int r = memo_read(pages, memo, addr + (uint64_t)off, 8, &base);
    if (r <= 0)
        return r;
    r = memo_read(pages, memo, addr + (uint64_t)ptr_off, 8, &ptr);
    if (r <= 0)
        return r;
    long long sum = (long long)base;
    PyObject *offsets = PyTuple_GET_ITEM(extra, 1);
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(offsets); i++) {
        unsigned long long o = PyLong_AsUnsignedLongLongMask(PyTuple_GET_ITEM(offsets, i));
        if (o == (unsigned long long)-1 && PyErr_Occurred())
            return -1;
        uint64_t v;
        r = memo_read(pages, memo, ptr + o, 4, &v);
        if (r <= 0)
            return r;
        sum += (int32_t)(uint32_t)v;
    }
    *out = sum;
    return 1;
}

/* How many values ``spec`` reads: SPEC_FOLLOW_INLINE items stand for their subspec's. */
static Py_ssize_t
spec_width(PyObject *spec, int depth)
{
    if (!PyTuple_Check(spec)) {
        PyErr_SetString(PyExc_TypeError, "spec must be a tuple");
        return -1;
    }
    if (depth > 8) {
        PyErr_SetString(PyExc_ValueError, "spec nested too deeply");
        return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(spec), width = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(spec, i);
        Py_ssize_t nitem = PyTuple_Check(item) ? PyTuple_GET_SIZE(item) : 0;
        if (nitem != 3 && nitem != 4) {
            PyErr_SetString(PyExc_TypeError, "spec items are (offset, size, how[, subspec])");
            return -1;
        }
        long how = PyLong_AsLong(PyTuple_GET_ITEM(item, 2));
        if (how == -1 && PyErr_Occurred())
            return -1;
        if (how < SPEC_UNSIGNED || how > SPEC_S64_PLUS_S32S) {
            PyErr_SetString(PyExc_ValueError, "unknown spec item kind");
            return -1;
        }
        if (how >= SPEC_FOLLOW && nitem != 4) {
            PyErr_SetString(PyExc_TypeError, "this spec item kind needs its extra");
            return -1;
        }
        if (how == SPEC_FOLLOW_INLINE) {
            Py_ssize_t w = spec_width(PyTuple_GET_ITEM(item, 3), depth + 1);
            if (w < 0)
                return -1;
            width += w;
        } else {
            width += 1;
        }
    }
    return width;
}

static PyObject *read_members_tuple(PyObject *pages, PageMemo *memo, uint64_t addr,
                                    PyObject *spec, int depth, int *miss);

/* Fill res[*pos...] with what ``spec`` reads at ``addr``.  0 on success, -1
 * with *miss set (not on the fast path) or with an exception. */
static int
read_members_into(PyObject *pages, PageMemo *memo, uint64_t addr, PyObject *spec, int depth,
                  int *miss, PyObject *res, Py_ssize_t *pos)
{
    Py_ssize_t n = PyTuple_GET_SIZE(spec);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(spec, i);
        long long off = PyLong_AsLongLong(PyTuple_GET_ITEM(item, 0));
        Py_ssize_t size = PyLong_AsSsize_t(PyTuple_GET_ITEM(item, 1));
        long how = PyLong_AsLong(PyTuple_GET_ITEM(item, 2));
        if (PyErr_Occurred())
            return -1;
        if (how != SPEC_STRING && size != 1 && size != 2 && size != 4 && size != 8) {
            PyErr_SetString(PyExc_ValueError, "size must be 1, 2, 4 or 8");
            return -1;
        }
        if (size < 0)
            goto miss;
        uint64_t a = addr + (uint64_t)off;
        if (how == SPEC_S64_PLUS_S32S) {
            long long sum;
            int r5 = s64_plus_s32s(pages, memo, addr, off, PyTuple_GET_ITEM(item, 3), &sum);
            if (r5 < 0)
                return -1;
            if (r5 == 0)
                goto miss;
            PyObject *v5 = PyLong_FromLongLong(sum);
            if (v5 == NULL)
                return -1;
            PyTuple_SET_ITEM(res, (*pos)++, v5);
            continue;
        }
        uint64_t in = a & PAGE_MASK;
        if (in + (uint64_t)size > PAGE_SIZE)
            goto miss;
        const unsigned char *page;
        int r = memo_page(pages, memo, a >> 12, &page);
        if (r < 0)
            return -1;
        if (r == 0)
            goto miss;
        const unsigned char *p = page + in;
        PyObject *v;
        if (how == SPEC_STRING) {
            const unsigned char *nul = memchr(p, 0, (size_t)size);
            v = PyBytes_FromStringAndSize((const char *)p, nul ? nul - p : size);
        } else {
            uint64_t raw = load_le(p, (unsigned)size);
            if (how == SPEC_FOLLOW_INLINE) {
                PyObject *sub = PyTuple_GET_ITEM(item, 3);
                if (raw != 0) {
                    if (read_members_into(pages, memo, raw, sub, depth + 1, miss, res, pos) < 0)
                        return -1;
                } else {
                    Py_ssize_t w = spec_width(sub, depth + 1);
                    if (w < 0)
                        return -1;
                    for (Py_ssize_t j = 0; j < w; j++) {
                        Py_INCREF(Py_None);
                        PyTuple_SET_ITEM(res, (*pos)++, Py_None);
                    }
                }
                continue;
            }
            if (how == SPEC_FOLLOW) {
                if (raw == 0) {
                    Py_INCREF(Py_None);
                    v = Py_None;
                } else {
                    v = read_members_tuple(pages, memo, raw, PyTuple_GET_ITEM(item, 3),
                                           depth + 1, miss);
                    if (v == NULL)
                        return -1;
                }
            } else {
                v = int_of(raw, (unsigned)size, how == SPEC_SIGNED);
            }
        }
        if (v == NULL)
            return -1;
        PyTuple_SET_ITEM(res, (*pos)++, v);
    }
    return 0;
miss:
    *miss = 1;
    return -1;
}

/* The tuple ``spec`` reads at ``addr``: NULL with *miss set when not on the
 * fast path, NULL without it on an exception. */
static PyObject *
read_members_tuple(PyObject *pages, PageMemo *memo, uint64_t addr, PyObject *spec, int depth,
                   int *miss)
{
    Py_ssize_t width = spec_width(spec, depth);
    if (width < 0)
        return NULL;
    PyObject *res = PyTuple_New(width);
    if (res == NULL)
        return NULL;
    Py_ssize_t pos = 0;
    if (read_members_into(pages, memo, addr, spec, depth, miss, res, &pos) < 0) {
        Py_DECREF(res);
        return NULL;
    }
    return res;
}

static PyObject *
read_members(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyDict_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "read_members(pages: dict, addr, spec: tuple)");
        return NULL;
    }
    uint64_t addr = PyLong_AsUnsignedLongLongMask(args[1]);
    if (addr == (uint64_t)-1 && PyErr_Occurred())
        return NULL;
    int miss = 0;
    PageMemo memo;
    memo.n = memo.next = 0;
    PyObject *res = read_members_tuple(args[0], &memo, addr, args[2], 0, &miss);
    memo_release(&memo);
    if (res == NULL && miss)
        Py_RETURN_NONE;
    return res;
}

PyDoc_STRVAR(read_members_many_doc,
"read_members_many(pages, addrs, spec) -> list\n\n"
"``[read_members(pages, a, spec) for a in addrs]`` in one call.");

static PyObject *
read_members_many(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyDict_Check(args[0]) || !PyList_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError,
                        "read_members_many(pages: dict, addrs: list, spec: tuple)");
        return NULL;
    }
    PyObject *addrs = args[1];
    Py_ssize_t n = PyList_GET_SIZE(addrs);
    PyObject *res = PyList_New(n);
    if (res == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t addr = PyLong_AsUnsignedLongLongMask(PyList_GET_ITEM(addrs, i));
        if (addr == (uint64_t)-1 && PyErr_Occurred())
            goto fail;
        int miss = 0;
        PageMemo memo;
        memo.n = memo.next = 0;
        PyObject *v = read_members_tuple(args[0], &memo, addr, args[2], 0, &miss);
        memo_release(&memo);
        if (v == NULL) {
            if (!miss)
                goto fail;
            Py_INCREF(Py_None);
            v = Py_None;
        }
        PyList_SET_ITEM(res, i, v);
    }
    return res;
fail:
    Py_DECREF(res);
    return NULL;
}

static PyMethodDef methods[] = {
    {"walk_links", (PyCFunction)(void (*)(void))walk_links, METH_FASTCALL, walk_links_doc},
    {"make_views", (PyCFunction)(void (*)(void))make_views, METH_FASTCALL, make_views_doc},
    {"cell_rows", (PyCFunction)(void (*)(void))cell_rows, METH_FASTCALL, cell_rows_doc},
    {"ps_rows", (PyCFunction)(void (*)(void))ps_rows, METH_FASTCALL, ps_rows_doc},
    {"take_until", (PyCFunction)(void (*)(void))take_until, METH_FASTCALL, take_until_doc},
    {"rss_event_sums", (PyCFunction)(void (*)(void))rss_event_sums, METH_FASTCALL,
     rss_event_sums_doc},
    {"gather_u64", (PyCFunction)(void (*)(void))gather_u64, METH_FASTCALL, gather_u64_doc},
    {"thread_nodes", (PyCFunction)(void (*)(void))thread_nodes, METH_FASTCALL,
     thread_nodes_doc},
    {"read_members", (PyCFunction)(void (*)(void))read_members, METH_FASTCALL,
     read_members_doc},
    {"read_members_many", (PyCFunction)(void (*)(void))read_members_many, METH_FASTCALL,
     read_members_many_doc},
    {NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "kmemx._speedups",
    .m_doc = "C fast paths for kmemx's views and list walks (optional).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    missing_member_name = PyUnicode_InternFromString("_missing_member");
    is_pointer_name = PyUnicode_InternFromString("_is_pointer");
    if (missing_member_name == NULL || is_pointer_name == NULL)
        return NULL;
    ViewBase_Type.tp_getattro = ViewBase_getattro;
    ViewBase_Type.tp_as_number = &ViewBase_as_number;
    if (PyType_Ready(&ViewBase_Type) < 0 || PyType_Ready(&Field_Type) < 0 ||
        PyType_Ready(&UIntReader_Type) < 0 || PyType_Ready(&RowBase_Type) < 0 ||
        PyType_Ready(&ArrayBase_Type) < 0 || PyType_Ready(&ViewFactory_Type) < 0)
        return NULL;
    PyObject *mm = PyImport_ImportModule("mmap");
    if (mm != NULL) {
        PyObject *t = PyObject_GetAttrString(mm, "mmap");
        Py_DECREF(mm);
        if (t != NULL && PyType_Check(t))
            mmap_type = (PyTypeObject *)t;  /* kept for the module's life */
        else
            Py_XDECREF(t);
    }
    PyErr_Clear();  /* without mmap, mmap pages are read through exports */
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&ViewBase_Type);
    if (PyModule_AddObject(m, "ViewBase", (PyObject *)&ViewBase_Type) < 0)
        goto fail;
    Py_INCREF(&Field_Type);
    if (PyModule_AddObject(m, "Field", (PyObject *)&Field_Type) < 0)
        goto fail;
    Py_INCREF(&ArrayBase_Type);
    if (PyModule_AddObject(m, "ArrayBase", (PyObject *)&ArrayBase_Type) < 0)
        goto fail;
    Py_INCREF(&RowBase_Type);
    if (PyModule_AddObject(m, "RowBase", (PyObject *)&RowBase_Type) < 0)
        goto fail;
    Py_INCREF(&ViewFactory_Type);
    if (PyModule_AddObject(m, "ViewFactory", (PyObject *)&ViewFactory_Type) < 0)
        goto fail;
    Py_INCREF(&UIntReader_Type);
    if (PyModule_AddObject(m, "UIntReader", (PyObject *)&UIntReader_Type) < 0)
        goto fail;
    if (PyModule_AddIntConstant(m, "K_INT", K_INT) < 0 ||
        PyModule_AddIntConstant(m, "K_BOOL", K_BOOL) < 0 ||
        PyModule_AddIntConstant(m, "K_VIEW", K_VIEW) < 0 ||
        PyModule_AddIntConstant(m, "K_CALL", K_CALL) < 0 ||
        PyModule_AddIntConstant(m, "K_ENUM", K_ENUM) < 0 ||
        PyModule_AddIntConstant(m, "K_ARRAY", K_ARRAY) < 0)
        goto fail;
    if (PyModule_AddIntConstant(m, "SPEC_UNSIGNED", SPEC_UNSIGNED) < 0 ||
        PyModule_AddIntConstant(m, "SPEC_SIGNED", SPEC_SIGNED) < 0 ||
        PyModule_AddIntConstant(m, "SPEC_STRING", SPEC_STRING) < 0 ||
        PyModule_AddIntConstant(m, "SPEC_FOLLOW", SPEC_FOLLOW) < 0 ||
        PyModule_AddIntConstant(m, "SPEC_FOLLOW_INLINE", SPEC_FOLLOW_INLINE) < 0 ||
        PyModule_AddIntConstant(m, "SPEC_S64_PLUS_S32S", SPEC_S64_PLUS_S32S) < 0)
        goto fail;
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
