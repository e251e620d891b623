"""The supervisor: binds once, keeps N worker processes serving, reloads and stops them.

Strategy: a plain synchronous loop (no event loop and no threads of its own, since it
forks) that sleeps in ``select()`` on a pipe into which the signal module writes the
number of every signal caught (``signal.set_wakeup_fd``). SIGCHLD is one of them, so
a worker's death wakes it at once and the replacement starts within the same tick.

Workers belong to a generation. SIGHUP (and ``--reload``) starts a new generation; the
old workers are told to stop only once the new ones all serve, so the shared sockets
always have someone accepting, and a new generation that cannot start (broken code)
leaves the old one serving. A worker that dies before it serves is a boot failure:
each one makes the next try wait twice as long, and when nothing serves after
``BOOT_ATTEMPTS`` failures in a row the supervisor gives up with status 1 rather
than fork forever. A worker whose event loop stops beating for ``timeout`` seconds
is made to print its stacks, then killed, then replaced.

Signals, as gunicorn's arbiter takes them: TERM/INT stop gracefully (a second one
stops at once), QUIT stops at once, HUP reloads, TTIN/TTOU add or remove a worker.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Callable

from .config import Config
from .listeners import Listener, log_listening, open_listeners
from .metrics import SupervisorMetrics
from .reloader import watch_for_changes
from .tls import make_ssl_context
from .worker import BOOT_ERROR, RETIRE_SIGNAL, STACK_DUMP_SIGNAL, WorkerSlot, worker_main

log = logging.getLogger("fasth2.error")

#: Seconds the loop sleeps at most between checks (heartbeats, back-off).
TICK = 0.2
#: Boot failures in a row (with nothing serving) before the supervisor gives up.
BOOT_ATTEMPTS = 5
#: The wait before the first retry after a boot failure; it doubles up to BACKOFF_MAX.
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 10.0
#: Seconds past ``graceful_timeout`` a stopping worker gets before SIGKILL.
KILL_GRACE = 5.0
#: Seconds a timed-out worker gets to print its stacks before SIGKILL.
DUMP_WAIT = 0.3

HANDLED = (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP,
           signal.SIGTTIN, signal.SIGTTOU, signal.SIGUSR1)


@dataclass(eq=False)
class WorkerRecord:
    """What the supervisor knows of one worker process."""

    pid: int
    slot: WorkerSlot
    generation: int
    #: When it was told to stop (SIGTERM), if it was.
    stop_sent: float | None = None
    #: When it was found blocked and told to print its stacks (SIGKILL follows).
    timed_out: float | None = None
    #: The supervisor has seen it serve (its boot succeeded).
    booted: bool = False

    @property
    def active(self) -> bool:
        """Serving or on its way to: not stopping, not told to stop."""
        return self.stop_sent is None and self.slot.state != WorkerSlot.STOPPING

    def send(self, signum: int) -> None:
        """Send a signal (a worker that is already gone is no error)."""
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass


class Supervisor:
    """Runs ``config.workers`` workers serving ``app`` (a path, or a preloaded app)."""

    def __init__(self, app: Callable | str, config: Config) -> None:
        self.app = app
        self.config = config
        self.target = config.workers
        self.workers: dict[int, WorkerRecord] = {}
        self.generation = 0
        self.listeners: list[Listener] = []
        self._wake_read = self._wake_write = -1
        self._stopping = False
        self._kill_at = 0.0
        self._boot_failures = 0
        self._next_spawn = 0.0
        self._last_failure = ""
        #: The workers' metrics, summed and served here (--metrics-bind), or None.
        self.metrics: SupervisorMetrics | None = None

    def run(self) -> int:
        """Bind, start the workers, supervise them until stopped; the exit status.

        Raises StartupError (the sockets or the certificate) before any worker starts.
        """
        if self.config.tls:
            make_ssl_context(self.config)  # a bad certificate fails here, not N times
        self.listeners = open_listeners(
            self.config.binds, backlog=self.config.backlog, reuse_port=self.config.reuse_port,
            listen=not self.config.reuse_port, umask=self.config.umask)
        try:
            if self.config.metrics_bind:
                self.metrics = SupervisorMetrics(self.config.metrics_bind)
            self._catch_signals()  # before "Listening on": its readers may signal at once
            log_listening(self.listeners, self.config.tls)
            stop_watching = self._watch_source() if self.config.reload else None
            log.info("Supervisor %d starting %d worker(s)", os.getpid(), self.target)
            try:
                return self._supervise()
            finally:
                if stop_watching is not None:
                    stop_watching()
        finally:
            for record in self.workers.values():  # (after an error of ours)
                record.send(signal.SIGKILL)
            for pid in list(self.workers):
                os.waitpid(pid, 0)
            for listener in self.listeners:
                listener.close()
            if self.metrics is not None:
                self.metrics.close()
            self._release_signals()

    def _watch_source(self) -> Callable[[], None]:
        folders = self.config.reload_dirs or (os.getcwd(),)
        return watch_for_changes(folders, self._request_reload)

    def _request_reload(self, why: str) -> None:
        """Wake the loop as SIGHUP would (on the --reload watcher's thread)."""
        log.info("%s: reloading", why)
        try:
            os.write(self._wake_write, bytes([signal.SIGHUP]))
        except OSError:
            pass  # stopping: the pipe is closed

    # -- the loop ------------------------------------------------------------------

    def _supervise(self) -> int:
        while True:
            for signum in self._wait(TICK):
                self._on_signal(signum)
            self._reap()
            now = time.monotonic()
            if self._stopping:
                if not self.workers:
                    log.info("Supervisor %d: every worker has stopped", os.getpid())
                    return 0
                if now >= self._kill_at:
                    for record in self.workers.values():
                        record.send(signal.SIGKILL)
                continue
            self._check_heartbeats(now)
            if self._given_up():
                return 1
            self._spawn_missing(now)
            self._retire_old_generation(now)

    def _wait(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self._wake_read], [], [], timeout)
        if not ready:
            return b""
        try:
            return os.read(self._wake_read, 4096)
        except BlockingIOError:
            return b""

    def _on_signal(self, signum: int) -> None:
        if signum == signal.SIGCHLD:
            return  # the reap that follows finds who
        name = signal.Signals(signum).name
        if signum in (signal.SIGTERM, signal.SIGINT) and not self._stopping:
            log.info("Received %s: stopping %d worker(s) gracefully", name, len(self.workers))
            self._stop_all(signal.SIGTERM, self.config.graceful_timeout + KILL_GRACE)
        elif signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            log.info("Received %s: stopping every worker at once", name)
            self._stop_all(signal.SIGQUIT, 1.0)
        elif self._stopping:
            return
        elif signum == signal.SIGHUP:
            self._reload()
        elif signum == signal.SIGUSR1:  # each worker reopens its access log file
            for record in self.workers.values():
                record.send(signal.SIGUSR1)
        elif signum == signal.SIGTTIN:
            self.target += 1
            log.info("Received SIGTTIN: %d worker(s) now", self.target)
        elif signum == signal.SIGTTOU and self.target > 1:
            self.target -= 1
            log.info("Received SIGTTOU: %d worker(s) now", self.target)
            oldest = min((r for r in self.workers.values()
                          if r.active and r.slot.state == WorkerSlot.SERVING),
                         key=lambda r: r.pid, default=None)
            if oldest is not None:
                self._retire(oldest)

    def _stop_all(self, signum: int, grace: float) -> None:
        self._stopping = True
        self._kill_at = time.monotonic() + grace
        for record in self.workers.values():
            record.send(signum)

    def _retire(self, record: WorkerRecord) -> None:
        record.stop_sent = time.monotonic()
        record.send(RETIRE_SIGNAL)

    def _reload(self) -> None:
        self.generation += 1
        self._boot_failures = 0
        self._next_spawn = 0.0
        if self.config.preload:
            log.warning("Reloading with --preload: the workers restart, but the app was "
                        "imported once by the supervisor and is not imported again")
        log.info("Reload: starting %d new worker(s); the old ones stop once these serve",
                 self.target)

    # -- workers coming and going ----------------------------------------------------

    def _spawn_missing(self, now: float) -> None:
        current = sum(1 for r in self.workers.values()
                      if r.generation == self.generation and r.active)
        if current < self.target and now >= self._next_spawn:
            for _ in range(self.target - current):
                self._spawn()

    def _spawn(self) -> None:
        slot = WorkerSlot()
        logging_flush()
        with warnings.catch_warnings():
            # Python 3.12+ warns of fork() with threads; the only ones here are the
            # --reload watcher's, which the child never touches.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            self._release_signals()
            if self.metrics is not None:
                self.metrics.endpoint.close_in_child()
            worker_main(self.app, self.config, self.listeners, slot, os.getppid())
        self.workers[pid] = WorkerRecord(pid, slot, self.generation)
        log.info("Booting worker with pid %d", pid)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            record = self.workers.pop(pid, None)
            if record is not None:
                self._on_exit(record, os.waitstatus_to_exitcode(status))

    def _on_exit(self, record: WorkerRecord, code: int) -> None:
        served = record.slot.state != WorkerSlot.BOOTING
        record.slot.close()
        if self.metrics is not None:
            self.metrics.worker_exited(record.pid)
        stopped = self._stopping or record.stop_sent is not None
        reason = describe_exit(code, timed_out=record.timed_out is not None, stopped=stopped)
        if stopped:
            log.info("Worker %d stopped (%s)", record.pid, reason)
        elif not served:
            self._boot_failures += 1
            self._last_failure = reason
            delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (self._boot_failures - 1))
            self._next_spawn = time.monotonic() + delay
            log.error("Worker %d failed to start (%s); next try in %.1f s",
                      record.pid, reason, delay)
        elif code == 0:
            log.info("Worker %d exited after its max requests; replaced", record.pid)
        else:
            log.error("Worker %d died (%s); starting another", record.pid, reason)

    def _check_heartbeats(self, now: float) -> None:
        timeout = self.config.timeout
        for record in self.workers.values():
            if record.timed_out is not None:
                if now - record.timed_out >= DUMP_WAIT:
                    record.send(signal.SIGKILL)
                continue
            if record.stop_sent is not None:
                if now - record.stop_sent > self.config.graceful_timeout + KILL_GRACE:
                    record.send(signal.SIGKILL)  # a graceful stop that does not end
                continue
            if not record.booted and record.slot.state == WorkerSlot.SERVING:
                record.booted = True
                self._boot_failures = 0  # a new worker serves: failures are no longer in a row
            silent = now - record.slot.last_beat
            if timeout and silent > timeout:
                log.error("Worker %d timed out: its event loop has not run for %.1f s "
                          "(--timeout %g); killing it", record.pid, silent, timeout)
                record.timed_out = now
                record.send(STACK_DUMP_SIGNAL)

    def _retire_old_generation(self, now: float) -> None:
        old = [r for r in self.workers.values() if r.generation < self.generation and r.active]
        if not old:
            return
        serving = sum(1 for r in self.workers.values()
                      if r.generation == self.generation and r.slot.state == WorkerSlot.SERVING)
        if serving >= self.target:
            log.info("Reload: the new workers serve; %d old worker(s) retire", len(old))
            for record in old:
                self._retire(record)

    def _given_up(self) -> bool:
        """After BOOT_ATTEMPTS boot failures in a row: abandon a reload whose workers
        cannot start (the old ones go on), or give up if nothing serves at all."""
        if self._boot_failures < BOOT_ATTEMPTS:
            return False
        serving = [r for r in self.workers.values() if r.slot.state == WorkerSlot.SERVING]
        if not serving:
            message = (f"workers failed to start {self._boot_failures} times in a row "
                       f"(the last: {self._last_failure}); giving up")
            log.error("Supervisor %d: %s", os.getpid(), message)
            print(f"fasth2: error: {message}", file=sys.stderr)
            self._stop_all(signal.SIGKILL, 0.0)
            return True
        if any(r.generation < self.generation for r in serving):
            log.error("Reload failed: the new workers could not start %d times in a row "
                      "(the last: %s); the running workers go on serving",
                      self._boot_failures, self._last_failure)
            self.generation += 1
            for record in self.workers.values():
                if record.slot.state == WorkerSlot.SERVING:
                    record.generation = self.generation
                else:  # still booting: no handler for the retire signal yet
                    record.stop_sent = time.monotonic()
                    record.send(signal.SIGTERM)
            self._boot_failures = 0
        return False

    # -- signals -----------------------------------------------------------------------

    def _catch_signals(self) -> None:
        self._wake_read, self._wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self._wake_write)
        for signum in HANDLED:
            # A Python-level handler is what makes the wakeup fd receive the signal.
            signal.signal(signum, _ignore)

    def _release_signals(self) -> None:
        """Default signal handling again (in the supervisor at exit; in a new worker)."""
        if self._wake_read < 0:
            return
        signal.set_wakeup_fd(-1)
        for signum in HANDLED:
            signal.signal(signum, signal.SIG_DFL)
        os.close(self._wake_read)
        os.close(self._wake_write)
        self._wake_read = self._wake_write = -1


def _ignore(signum, frame) -> None:
    """Signal handler: the number reaches the loop through the wakeup fd."""


def logging_flush() -> None:
    """Flush log handlers and standard streams, so a fork does not copy their buffers."""
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()


def describe_exit(code: int, timed_out: bool = False, stopped: bool = False) -> str:
    """A worker's exit status in words (a negative code is the signal that killed it)."""
    if code < 0:
        name = signal.Signals(-code).name
        if timed_out:
            return f"killed by {name} after its loop blocked"
        if -code == signal.SIGKILL and not stopped:
            return f"killed by {name}, by someone else: out of memory?"
        return f"killed by {name}"
    if code == BOOT_ERROR:
        return f"exit status {code}: it could not start, see its error above"
    return f"exit status {code}"
