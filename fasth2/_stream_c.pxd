# How Cython stores stream.py's objects when it compiles that module a second time, as
# fasth2._stream_c (setup.py: TYPED_TWINS): Stream becomes an extension type with these
# fields. Every attribute the class sets must be here. Its protocol is typed (the
# response path reads its fields and calls it as C); the protocol's .pxd cannot type
# its streams in turn (each module would import the other as it loads).

from fasth2._exchange_c cimport Exchange as TypedExchange
from fasth2._protocol_c cimport H2Protocol as TypedProtocol

cdef class Stream:
    cdef public TypedExchange exchange
    cdef public TypedProtocol protocol
    cdef public object stream_id, _pending, _offset, _app_done
    cdef public object _finished, _sender, _trailers, _wakeup, _turn, _poked, priority
    cdef public object rfc9218, sched_queued, sched_version, stalled_since

    # Called on itself on the hot path: C calls from compiled code.
    cpdef _respond_whole(self, headers, data)
    cpdef _finish(self)
