# How Cython stores protocol.py's objects when it compiles that module a second time, as
# fasth2._protocol_c (setup.py: TYPED_TWINS): H2Protocol and BufferedH2Protocol become
# extension types with these fields, which the compiled methods read directly. Every
# attribute the classes set must be here.

from fasth2._memory_c cimport ResponseMemory as TypedMemory
from fasth2._requestcount_c cimport RequestCount as TypedCount


cdef class H2Protocol:
    cdef public object server, config, loop, transport, conn, write_paused, closing
    cdef public object _closed, _goaway_last, _flush_scheduled, _unflushed, _requests
    cdef public object _highest_request, _closed_stream_frames, held, apps
    cdef public object _last_activity, _last_sent, _paused_since, info, peer
    cdef public object _upgraded_request, uploads, pieces, scheduler, _budget
    cdef public object _priority_updates, _scanner
    cdef public dict streams, _draining
    cdef public TypedMemory memory
    cdef public TypedCount request_count

    # Methods the hot path calls on itself: C calls from compiled code (a subclass, or
    # Python, still sees ordinary methods). Never the event handlers: HANDLERS holds
    # them as class attributes, which Cython cannot make of a cpdef method.
    cpdef _receive(self, item)
    cpdef _request_received(self, stream_id, headers, ended, priority_updated)
    cpdef _request_ended(self, stream_id)
    cpdef _start_request(self, stream_id, headers, priority, has_body, whole_body=*)
    cpdef flush(self)
    cpdef flush_soon(self)
    cpdef queued(self, size)
    cpdef stream_finished(self, stream)
    cpdef release(self, size)
    cpdef glitch(self, what, cost=*)


cdef class BufferedH2Protocol(H2Protocol):
    cdef public object _reader, _read_size
