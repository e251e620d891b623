# What the other compiled modules may cimport from fasth2._speedups: the lock the typed
# twins (setup.py: TYPED_TWINS) declare their ``_lock`` fields with, so that taking and
# releasing it are C calls.

cdef extern from "pythread.h":
    ctypedef void *PyThread_type_lock


cdef class Lock:
    cdef PyThread_type_lock _handle
    cdef bint _locked

    cpdef bint acquire(self, bint blocking=*, double timeout=*) except -1
    cpdef release(self)
