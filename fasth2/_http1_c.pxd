# How Cython stores http1.py's objects when it compiles that module a second time, as
# fasth2._http1_c (setup.py: TYPED_TWINS): H1Protocol and H1Response become extension
# types with these fields, which the compiled methods read directly (the wire reads its
# protocol's through a typed reference). Every attribute the classes set must be here.

cimport cython

from fasth2._exchange_c cimport Exchange as TypedExchange
from fasth2._requestcount_c cimport RequestCount as TypedCount

cdef class H1Response


cdef class H1Protocol:
    cdef public object server, config, loop, transport, framing, parser
    cdef public dict streams
    cdef public object closed, closing, write_paused
    cdef public object _queue, _current, _receiving, _count, _unreleased, _body_buffered
    cdef public object _reading_paused, _last_activity, _request_started, _paused_since
    cdef public object apps, info, peer, _upgrade_buffer, _upgrade_to_h2c
    cdef public object _drop_left, _drop_until, _lingering
    cdef public object _url, _good_host, _headers, _fields, _hosts, _header_bytes
    cdef public object _upgrade, _replay
    cdef public object _clock, _max_requests, _transport_write, _transport_closing
    cdef public Py_ssize_t _max_header_bytes
    cdef public TypedCount request_count

    # Methods the hot path calls on a typed H1Protocol: C calls from compiled code.
    @cython.locals(response=H1Response)
    cpdef _head_complete(self, method, version, parser, url, headers, hosts, fields)
    cpdef write(self, data)
    cpdef exchange_finished(self, H1Response response)
    cpdef _detach(self, H1Response response)


cdef class H1Response:
    cdef public H1Protocol protocol
    cdef public TypedExchange exchange
    cdef public object stream_id, version, head, keep_alive
    cdef public object _chunked, _finished, responded, trailers
    cdef public object _expect_continue, _te_trailers, ends_with_close

    cpdef start(self, has_body=*)
    cpdef respond(self, headers, data, end)
    cpdef _head_block(self, headers, data=*)
