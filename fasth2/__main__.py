"""The command line: ``python -m fasth2 [options] module:app``.

Flags follow gunicorn/hypercorn conventions; each maps onto one ``Config`` field, and
the environment (``FASTH2_*``) and a ``--config`` TOML file can set the same ones
(options.py is the table, settings.py the sources and their precedence).
Failures to start (bad app path, missing certificate, busy port) print one line and
exit with status 1; a graceful shutdown exits 0.
"""

from __future__ import annotations

import logging
import os
import sys

from ._version import VERSION
from .config import Config
from .errors import StartupError
from .loader import AppLoadError, load_app
from .logs import LogConfigError, configure_logging
from .pidfile import pid_file
from .server import run
from .settings import APP_ENV, APP_KEY, SettingsError, build_parser, load_settings, render_config
from .speedups import BUILD, warn_if_slow
from .supervisor import Supervisor


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    try:
        settings = load_settings(argv, os.environ, parser)
    except SettingsError as exc:
        parser.error(str(exc))
    if settings.print_config:
        for warning in settings.warnings:
            print(f"fasth2: warning: {warning}", file=sys.stderr)
        print(render_config(settings), end="")
        return 0
    if settings.app is None:
        parser.error(f"the application path (module:app) is required: an argument, "
                     f"the config file's '{APP_KEY}' or ${APP_ENV}")
    config = settings.config
    try:
        configure_logging(config.log_level, config.error_logfile, config.log_config)
    except LogConfigError as exc:
        print(f"fasth2: error: {exc}", file=sys.stderr)
        return 1
    for warning in settings.warnings:
        logging.getLogger("fasth2.error").warning("%s", warning)
    try:
        with pid_file(config.pidfile):
            return serve_from_command_line(settings.app, config)
    except (AppLoadError, StartupError) as exc:
        print(f"fasth2: error: {exc}", file=sys.stderr)
        return 1


def serve_from_command_line(app_path: str, config: Config) -> int:
    """One process, or a supervisor and its workers; the exit status."""
    log = logging.getLogger("fasth2.error")
    log.info("fasth2 %s (%s), app %s", VERSION, BUILD, app_path)
    warn_if_slow(log)
    if not config.supervised:
        run(load_app(app_path), config)
        return 0
    return Supervisor(load_app(app_path) if config.preload else app_path, config).run()


if __name__ == "__main__":
    sys.exit(main())
