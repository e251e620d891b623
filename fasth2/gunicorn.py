"""fasth2's engine under gunicorn's arbiter: ``gunicorn -k fasth2.gunicorn.Worker app:app``.

For shops whose deployment is gunicorn's (its config files, hooks, arbiter and
signals): gunicorn binds, forks, watches and replaces the workers; each worker serves
gunicorn's sockets with fasth2 (HTTP/2 and HTTP/1.1, the compiled paths). Taken from
gunicorn's settings: ``bind`` (its sockets), ``workers`` (``wsgi.multiprocess``),
``timeout`` (the heartbeat this worker sends), ``graceful_timeout``,
``max_requests`` and ``max_requests_jitter``, ``certfile``/``keyfile``, ``ca_certs``,
``cert_reqs`` and ``ciphers``, ``backlog``,
``threads`` (above gunicorn's default of 1; else fasth2's default) and the error log's
handlers and level. The worker takes gunicorn's worker signals: TERM stops gracefully,
INT and QUIT at once, USR1 reopens the log files, ABRT (sent on a timeout) ends it.

gunicorn is an optional dependency: ``pip install 'fasth2[gunicorn]'``.
"""

from __future__ import annotations

import logging
import signal
import sys

from gunicorn.workers.base import Worker as GunicornWorker

from .config import Config
from .listeners import Listener
from .server import Server, run
from .worker import keep_beating

#: gunicorn's own default for ``threads``: taken to mean "not chosen".
GUNICORN_DEFAULT_THREADS = 1


def config_from_gunicorn(cfg) -> Config:
    """The fasth2 settings that gunicorn's configuration ``cfg`` implies."""
    options = {
        "graceful_timeout": float(cfg.graceful_timeout),
        "workers": cfg.workers,
        "backlog": cfg.backlog,
        "log_level": cfg.loglevel.lower(),
    }
    if cfg.threads > GUNICORN_DEFAULT_THREADS:
        options["threads"] = cfg.threads
    if cfg.certfile and cfg.keyfile:
        options["certfile"], options["keyfile"] = cfg.certfile, cfg.keyfile
        options["ca_certs"] = cfg.ca_certs
        options["cert_reqs"] = ("none", "optional", "required")[cfg.cert_reqs]
        if cfg.ciphers:
            options["ciphers"] = cfg.ciphers
    return Config(**options)


class Worker(GunicornWorker):
    """A gunicorn worker that serves its sockets with fasth2's event loop and threads."""

    def init_signals(self) -> None:
        """Defaults only: fasth2 sets its handlers on the event loop once it serves
        (ABRT keeps gunicorn's handler, which must run even if the loop is stuck)."""
        for signum in self.SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGABRT, self.handle_abort)

    def run(self) -> None:
        """Serve until gunicorn stops this worker (or it reaches max_requests)."""
        fasth2_log = logging.getLogger("fasth2")
        fasth2_log.handlers = list(self.log.error_log.handlers)
        fasth2_log.setLevel(self.log.error_log.level)
        fasth2_log.propagate = False
        listeners = []
        for listener in self.sockets:
            listener.sock.setblocking(False)
            listeners.append(Listener(listener.sock, str(listener)))
        run(self.wsgi, config_from_gunicorn(self.cfg), listeners=listeners,
            on_started=self._started)

    def _started(self, server: Server) -> None:
        loop = server.loop
        if self.max_requests != sys.maxsize:
            server.request_count.limit = self.max_requests  # gunicorn added the jitter
        loop.add_signal_handler(signal.SIGTERM, server.stop)
        for signum in (signal.SIGINT, signal.SIGQUIT):
            loop.add_signal_handler(signum, server.stop, False)
        loop.add_signal_handler(signal.SIGUSR1, self.log.reopen_files)
        loop.add_signal_handler(signal.SIGHUP, lambda: None)  # the arbiter's signal
        loop.add_signal_handler(signal.SIGWINCH, lambda: None)
        keep_beating(server, self.notify, self.ppid, self.timeout, "arbiter")
