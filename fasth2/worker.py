"""One worker process under the supervisor: a whole fasth2 server on inherited sockets.

Strategy: a worker is forked by the supervisor and runs today's single-process server
(``server.run``) on the listeners it inherited. It tells the supervisor how it is
through a few bytes of shared memory (``WorkerSlot``): its state (booting, serving,
stopping) and a heartbeat, the time its event loop last ran. A loop that stops running
(an app call that blocks it, a deadlock) stops the heartbeat, and the supervisor kills
the worker after ``timeout`` seconds; shared memory costs no system call and no file
per beat. A worker also stops by itself, gracefully, when it has served its
``max_requests`` or when its supervisor is gone.
"""

from __future__ import annotations

import faulthandler
import logging
import mmap
import os
import random
import signal
import struct
import sys
import time
from typing import Callable

from .config import Config
from .errors import StartupError
from .listeners import Listener
from .loader import AppLoadError, load_app
from .metrics import Metrics
from .server import Server, run

log = logging.getLogger("fasth2.error")

#: A worker's exit status when it could not start (app import failed, socket error).
BOOT_ERROR = 3
#: Seconds between heartbeats (or a quarter of a short ``timeout``).
HEARTBEAT = 1.0
#: Sent by the supervisor before it kills a worker that timed out: the worker prints
#: every thread's stack (faulthandler, which works while the loop is blocked).
STACK_DUMP_SIGNAL = signal.SIGUSR2
#: Sent by the supervisor to a worker it replaces (reload, one worker fewer): stop
#: accepting, let the clients finish, then exit (Server.retire). Apache's
#: graceful-stop signal; SIGTERM stays a plain graceful stop.
RETIRE_SIGNAL = signal.SIGWINCH


class WorkerSlot:
    """State and heartbeat of one worker, in memory shared with the supervisor."""

    BOOTING, SERVING, STOPPING = 0, 1, 2
    _LAYOUT = struct.Struct("=dq")  # heartbeat (time.monotonic(), one clock for all), state

    def __init__(self) -> None:
        # An anonymous MAP_SHARED mapping: the child sees the same bytes after fork.
        self._memory = mmap.mmap(-1, self._LAYOUT.size)
        self.beat(self.BOOTING)

    def beat(self, state: int | None = None) -> None:
        """Record that the loop runs now (and, if given, a new state)."""
        if state is None:
            state = self.state
        self._LAYOUT.pack_into(self._memory, 0, time.monotonic(), state)

    @property
    def state(self) -> int:
        """BOOTING, SERVING or STOPPING."""
        return self._LAYOUT.unpack_from(self._memory, 0)[1]

    @property
    def last_beat(self) -> float:
        """``time.monotonic()`` of the last heartbeat."""
        return self._LAYOUT.unpack_from(self._memory, 0)[0]

    def close(self) -> None:
        """Release the mapping (the supervisor, once the worker is gone)."""
        self._memory.close()


def worker_main(app: Callable | str, config: Config, listeners: list[Listener],
                slot: WorkerSlot, parent_pid: int) -> None:
    """The body of a forked worker; never returns (the process exits)."""
    status = 1
    try:
        status = _serve(app, config, listeners, slot, parent_pid)
    except BaseException:
        log.exception("Worker %d failed", os.getpid())
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        # Not sys.exit: the supervisor's atexit work (its pid file) is not ours.
        os._exit(status)


def _serve(app: Callable | str, config: Config, listeners: list[Listener],
           slot: WorkerSlot, parent_pid: int) -> int:
    # The supervisor's signals; and SIGUSR1 (reopen the access log), which the server
    # handles once it runs, must not kill a worker still booting.
    for signum in (signal.SIGTTIN, signal.SIGTTOU, signal.SIGUSR1):
        signal.signal(signum, signal.SIG_IGN)
    faulthandler.register(STACK_DUMP_SIGNAL, all_threads=True)
    if isinstance(app, str):
        try:
            app = load_app(app)
        except AppLoadError as exc:
            log.error("Worker %d cannot load the app: %s", os.getpid(), exc)
            return BOOT_ERROR
        except Exception:  # the app's own import failed: its traceback says why
            log.exception("Worker %d cannot load the app: importing it failed", os.getpid())
            return BOOT_ERROR
    limit = config.max_requests
    if limit:
        limit += random.randint(0, config.max_requests_jitter)
    watch = _Watch(slot, parent_pid, limit, config.timeout)
    try:
        # Metrics go to PROMETHEUS_MULTIPROC_DIR's files; the supervisor serves them.
        metrics = Metrics() if config.metrics_bind else None
        run(app, config, listeners=listeners, on_started=watch.start, metrics=metrics)
    except StartupError as exc:
        log.error("Worker %d cannot start: %s", os.getpid(), exc)
        return BOOT_ERROR
    return 0


class _Watch:
    """The worker's side of supervision, run on its event loop."""

    def __init__(self, slot: WorkerSlot, parent_pid: int, request_limit: int,
                 timeout: float) -> None:
        self.slot = slot
        self.parent_pid = parent_pid
        self.request_limit = request_limit
        self.timeout = timeout
        self.server: Server | None = None

    def start(self, server: Server) -> None:
        """The server accepts: say so, and beat from now on."""
        self.server = server
        server.request_count.limit = self.request_limit
        server.on_stopping = lambda: self.slot.beat(WorkerSlot.STOPPING)
        # HUP is the supervisor's to act on; so is INT, which a terminal's Ctrl-C sends
        # to the whole process group: the supervisor turns it into one SIGTERM.
        for signum in (signal.SIGHUP, signal.SIGINT):
            server.loop.add_signal_handler(signum, lambda: None)
        server.loop.add_signal_handler(RETIRE_SIGNAL, self._retire)
        self.slot.beat(WorkerSlot.SERVING)
        keep_beating(server, self.slot.beat, self.parent_pid, self.timeout, "supervisor")

    def _retire(self) -> None:
        log.info("Worker %d retiring: its connections close as they go idle", os.getpid())
        self.server.retire()


def keep_beating(server: Server, beat: Callable[[], None], parent_pid: int, timeout: float,
                 parent: str) -> None:
    """Call ``beat()`` now and every HEARTBEAT seconds (a quarter of a shorter
    ``timeout``) while the loop runs, and stop the server gracefully once the process
    ``parent_pid`` (the supervisor, or gunicorn's arbiter) is gone."""
    interval = min(HEARTBEAT, timeout / 4) if timeout else HEARTBEAT

    def tick() -> None:
        beat()
        if not server.stopping and os.getppid() != parent_pid:
            log.warning("Worker %d: the %s is gone; shutting down", os.getpid(), parent)
            server.stop()
        server.loop.call_later(interval, tick)

    tick()
