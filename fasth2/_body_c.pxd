# How Cython stores body.py's objects when it compiles that module a second time, as
# fasth2._body_c (setup.py: TYPED_TWINS): RequestBody becomes an extension type with
# these fields, which its compiled methods (the loop's feed, the app thread's reads of
# a request body arriving in dozens of pieces) read directly. Every attribute the class
# sets must be here.

from fasth2._speedups cimport Lock as TypedLock


cdef class RequestBody:
    cdef object _run_on_loop, _on_consumed, _ready, _chunks
    cdef TypedLock _lock
    cdef Py_ssize_t _consumed, _size
    cdef bint _ended, _aborted
    cdef public bint reader_waiting
    cdef public object trailers


cdef class EmptyBody:
    pass
