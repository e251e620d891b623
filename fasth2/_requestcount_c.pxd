# How Cython stores requestcount.py's object when it compiles that module a second time,
# as fasth2._requestcount_c (setup.py: TYPED_TWINS): RequestCount becomes an extension
# type, and ``add`` a C call from the compiled protocols, which type their field with it.

cdef class RequestCount:
    cdef public Py_ssize_t count, limit
    cdef public object on_limit

    cpdef add(self)
