# How Cython stores wsgi.py's objects when it compiles that module a second time, as
# fasth2._wsgi_c (setup.py): see _handoff_c.pxd. Response becomes an extension type.

cdef class Response:
    cdef public object stream
    cdef public object headers
    cdef public bint headers_sent
    cdef public bint head
    cdef public object trailers
    cdef public bint ended
    cdef public object owed
