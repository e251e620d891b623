# How Cython stores handoff.py's objects when it compiles that module a second time, as
# fasth2._handoff_c (setup.py): ThreadHandOff becomes an extension type with these
# typed fields, and its methods C code that reads them directly. The .py stays the only
# source of behaviour (and the pure build); these declarations must list every
# attribute the class sets (a missing one is an AttributeError in the compiled build,
# which the suite, run on both builds, would find).

cimport cython

from fasth2._exchange_c cimport Exchange as TypedExchange


cdef class LoopInbox:
    cdef object _call_soon, _items, _append, _popleft
    cdef bint _scheduled

    cpdef post_response(self, exchange, headers, data, end)
    cpdef _schedule(self)

    # (the exchange typed: its respond a C call)
    @cython.locals(exchange=TypedExchange)
    cpdef _drain(self)


cdef class ThreadHandOff:
    cdef public TypedExchange exchange
    cdef LoopInbox _inbox
    cdef Py_ssize_t _limit
    cdef Py_ssize_t _buffered
    cdef object _drained

    cpdef submit(self, headers, data, end)
