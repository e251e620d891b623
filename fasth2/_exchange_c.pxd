# How Cython stores exchange.py's objects when it compiles that module a second time, as
# fasth2._exchange_c (setup.py: TYPED_TWINS): Exchange and ConnectionInfo become
# extension types with these fields; the other compiled modules' .pxd files type their
# ``exchange`` fields with it, so that their compiled code reads these fields directly.
# Every attribute the classes set must be here.

cdef class ConnectionInfo:
    cdef public object client, client_port, server, server_port, tls, ssl_object
    cdef public object on_exchange_end


cdef class Exchange:
    cdef public ConnectionInfo connection
    cdef public object forwarded_for, stream_id, http_version, headers, wire, body
    cdef public object response_headers, bytes_sent, bytes_received, started, ended
    cdef public object outcome, aborted, app_waiting, on_drained, on_aborted

    # (the inbox's drain calls it on a typed exchange: a C call)
    cpdef respond(self, headers, data, end)
