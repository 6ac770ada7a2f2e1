/* The PEP 509 version tag of a dict, for the page memos of kmemx/_speedups.c
 * (the mirror) and kmemx/_segread.c (the segment readers' memo): one copy of
 * the rule both trust.  CPython changes a dict's tag on every insertion,
 * deletion and clear and never reuses one, so (dict, tag) names one state of
 * the page cache.  ma_version_tag is deprecated since 3.12 and gone in 3.14:
 * HAVE_DICT_VERSION is 0 there and the memos are left out (every lookup goes
 * to the dict). */
#ifndef KMEMX_DICTVERSION_H
#define KMEMX_DICTVERSION_H

#include <Python.h>
#include <stdint.h>

#if PY_VERSION_HEX < 0x030E0000
#define HAVE_DICT_VERSION 1
static inline uint64_t
dict_version(PyObject *d)
{
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
    return ((PyDictObject *)d)->ma_version_tag;
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
}
#else
#define HAVE_DICT_VERSION 0
#endif

#endif
