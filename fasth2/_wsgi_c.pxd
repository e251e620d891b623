# How Cython stores wsgi.py's objects when it compiles that module a second time, as
# fasth2._wsgi_c (setup.py): see _handoff_c.pxd. Response becomes an extension type.

cimport cython

from fasth2._handoff_c cimport ThreadHandOff as TypedHandOff


cdef class Response:
    cdef public TypedHandOff stream
    cdef public object headers
    cdef public bint headers_sent
    cdef public bint head
    cdef public object trailers
    cdef public bint ended
    cdef public object owed

    # Called on a typed Response (run_app's) on the hot path: C calls.
    cpdef send_body(self, result)
    cpdef _finish(self, headers, body)
    cpdef _take_headers(self)
    cpdef write(self, data)


cpdef _allowed_body_length(headers)


@cython.locals(response=Response)
cpdef run_app(app, dict environ, TypedHandOff handoff)
