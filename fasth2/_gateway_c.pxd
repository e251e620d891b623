# How Cython stores gateway.py's objects when it compiles that module a second time, as
# fasth2._gateway_c (setup.py: TYPED_TWINS): WSGIGateway and WSGIConnection become
# extension types with these fields, which the compiled methods read directly (a
# connection reads its share of the pool through a typed reference). Every attribute
# the classes set must be here.

cimport cython

from fasth2._exchange_c cimport Exchange as TypedExchange
from fasth2._handoff_c cimport LoopInbox as TypedInbox
from fasth2._threadpool_c cimport ThreadPool as TypedPool, ThreadShare as TypedShare


cdef class WSGIGateway:
    cdef public object app, server
    cdef public TypedInbox inbox


cdef class WSGIConnection:
    cdef public object server, app, config, environ, _root_path, _forwarding
    cdef public object _run_on_loop, _run_app
    cdef public TypedInbox _inbox
    cdef public TypedShare share
    cdef public TypedPool _pool
    cdef public object _buffer_size, _http_version

    # (environ typed: its keys set and read with dict calls, not through the mapping
    # protocol)
    @cython.locals(environ=dict)
    cpdef run(self, TypedExchange exchange, order=*, has_body=*)
