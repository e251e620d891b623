# How Cython stores memory.py's objects when it compiles that module a second time, as
# fasth2._memory_c (setup.py: TYPED_TWINS): ResponseMemory becomes an extension type with
# these fields, which its compiled methods (a response's hold on the app thread, its
# release on the loop) read directly. Every attribute the class sets must be here.

from fasth2._speedups cimport Lock as TypedLock


cdef class ResponseMemory:
    cdef public object per_connection, limit, total, open, _accounts, _held_back
    cdef public TypedLock _lock

    # The hold of every response piece (an app thread) and its release (the loop).
    cpdef hold(self, account, size)
    cpdef release(self, account, size)
