"""Apps for the process-model tests: who served a request, and a way to block a loop.

``/pid`` answers with the process id of the worker that served it, its
``wsgi.multiprocess`` and the process id that imported this module (the tests count
which workers took the connections, and see where ``--preload`` imported the app);
``/block-loop`` makes the worker's main thread, which runs its event loop, sleep for a
minute (as an app that blocked the loop would), so that the supervisor's ``--timeout``
has something to find; ``/sleep?s=N`` takes N seconds in the app thread and
``/big?mib=N`` streams N MiB, for requests in flight during a reload or a stop.
"""

from __future__ import annotations

import os
import signal
import threading
import time


_loop_blocked = threading.Event()


def _sleep_on_the_loop(signum, frame) -> None:
    _loop_blocked.set()
    time.sleep(60)  # runs on the main thread: the worker's event loop stops here


IMPORTED_IN = os.getpid()

# Registered at import, which a worker does on its main thread before serving.
signal.signal(signal.SIGRTMIN, _sleep_on_the_loop)  # a signal no server uses


def app(environ, start_response):
    """``/pid``, ``/block-loop``, ``/sleep?s=N``, ``/big?mib=N``; anything else is 404."""
    path = environ["PATH_INFO"]
    if path == "/pid":
        body = f"{os.getpid()} {environ['wsgi.multiprocess']} {IMPORTED_IN}\n".encode()
    elif path == "/block-loop":
        signal.pthread_kill(threading.main_thread().ident, signal.SIGRTMIN)
        # Answer only once the loop is stuck, so that this answer is never sent: Python
        # runs the handler at the main thread's next bytecode, and the compiled response
        # path could otherwise send the answer first.
        _loop_blocked.wait(10)
        body = b"blocking\n"
    elif path == "/sleep":
        seconds = float(environ["QUERY_STRING"].partition("s=")[2] or 1)
        time.sleep(seconds)
        body = f"slept {seconds}\n".encode()
    elif path == "/big":
        mib = int(environ["QUERY_STRING"].partition("mib=")[2] or 1)
        start_response("200 OK", [("content-type", "application/octet-stream"),
                                  ("content-length", str(mib * 1024 * 1024))])
        return (b"z" * 65536 for _ in range(mib * 16))
    else:
        start_response("404 Not Found", [("content-type", "text/plain"), ("content-length", "10")])
        return [b"not found\n"]
    start_response("200 OK", [("content-type", "text/plain"), ("content-length", str(len(body)))])
    return [body]
