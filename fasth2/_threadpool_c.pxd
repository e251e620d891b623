# How Cython stores threadpool.py's objects when it compiles that module a second time,
# as fasth2._threadpool_c (setup.py: TYPED_TWINS): ThreadPool and ThreadShare become
# extension types with these fields, which the compiled methods read directly (a share
# reads its pool's through a typed reference). Every attribute the classes set must be
# here.

cdef class ThreadPool:
    cdef public object _loop, on_starved, _batch, _size, _name, _backlog
    cdef public object newest_queued_at, _lock, _threads, _idle, _closed, _open
    cdef public Py_ssize_t _open_total, _open_taken

    cpdef submit_args(self, function, tuple args)


cdef class ThreadShare:
    cdef public ThreadPool _pool
    cdef public object _limit, _gate, _owner, _lock, _waiting, _arrivals, running, open
