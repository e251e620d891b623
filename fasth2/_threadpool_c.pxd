# How Cython stores threadpool.py's objects when it compiles that module a second time,
# as fasth2._threadpool_c (setup.py: TYPED_TWINS): ThreadPool and ThreadShare become
# extension types with these fields, which the compiled methods read directly (a share
# reads its pool's through a typed reference). Every attribute the classes set must be
# here.

from fasth2._speedups cimport Lock as TypedLock


cdef class ThreadPool:
    cdef public object _loop, on_starved, _batch, _size, _name, _backlog
    cdef public object newest_queued_at, _threads, _idle, _closed, _open
    cdef public TypedLock _lock
    cdef public Py_ssize_t _open_total, _open_taken

    cpdef submit_args(self, function, tuple args)


cdef class ThreadShare:
    cdef public ThreadPool _pool
    cdef public object _limit, _gate, _owner, _waiting, _arrivals, running, open
    cdef public TypedLock _lock
