"""Logging set-up for the command line: the error log, then the user's configuration.

Strategy: fasth2 logs through two loggers, ``fasth2.error`` (everything the server has
to say) and ``fasth2.access`` (one line per request, see accesslog.py). By default the
error log goes to stderr in one format, ``[time] [pid] [LEVEL] message``, or to
``--error-logfile`` (a WatchedFileHandler: it reopens a file logrotate moved). A
``--log-config`` file then configures logging on top, as the ``logging.config``
module reads it: a dictConfig schema as JSON (``.json``) or TOML (``.toml``), or the
ini format of ``fileConfig`` (any other name). Loggers that exist already are never
disabled by it (the server's own are made at import).
"""

from __future__ import annotations

import configparser
import json
import logging
import logging.config
import logging.handlers
import sys
from pathlib import Path

from .compat import tomllib

#: The error log's format (and gunicorn's).
ERROR_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S %z"


class LogConfigError(Exception):
    """A ``--log-config`` file that cannot be read or applied."""


def configure_logging(level: str, error_logfile: str | None = None,
                      log_config: str | None = None) -> None:
    """Send the error log to stderr (or ``error_logfile``) at ``level``, then apply
    ``log_config`` if given. LogConfigError says what is wrong with that file."""
    if error_logfile in (None, "-"):
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
    else:
        handler = logging.handlers.WatchedFileHandler(error_logfile, encoding="utf-8")
    handler.setFormatter(logging.Formatter(ERROR_FORMAT, DATE_FORMAT))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    if log_config:
        apply_log_config(log_config)


def apply_log_config(path: str) -> None:
    """Apply a logging configuration file (JSON, TOML or ini; see the module's text)."""
    suffix = Path(path).suffix.lower()
    try:
        if suffix in (".json", ".toml"):
            text = Path(path).read_text(encoding="utf-8")
            schema = json.loads(text) if suffix == ".json" else tomllib.loads(text)
            if not isinstance(schema, dict):
                raise ValueError("the file must hold a table of dictConfig keys")
            schema.setdefault("version", 1)
            schema.setdefault("disable_existing_loggers", False)
            logging.config.dictConfig(schema)
        else:
            if not Path(path).is_file():
                raise FileNotFoundError(f"no such file: {path}")
            logging.config.fileConfig(path, disable_existing_loggers=False)
    except (OSError, ValueError, TypeError, KeyError, AttributeError, ImportError,
            configparser.Error, json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise LogConfigError(f"cannot apply the logging configuration {path}: {exc}") from None
