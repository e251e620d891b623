"""The command line: ``python -m fasth2 [options] module:app``.

Flags follow gunicorn/hypercorn conventions; each maps onto one ``Config`` field.
Failures to start (bad app path, missing certificate, busy port) print one line and
exit with status 1; a graceful shutdown exits 0.
"""

from __future__ import annotations

import argparse
import logging
import sys

from ._version import VERSION
from .accesslog import check_format
from .config import Config
from .errors import StartupError
from .loader import AppLoadError, load_app
from .logs import LogConfigError, configure_logging
from .pidfile import pid_file
from .proxy import TrustedPeers
from .server import run
from .speedups import BUILD
from .supervisor import Supervisor

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by the tests' flag → config table)."""
    defaults = Config()
    parser = argparse.ArgumentParser(
        prog="fasth2",
        description="Serve a WSGI application over HTTP/2 (h2c, or h2 over TLS).",
        epilog="example: python -m fasth2 -b 0.0.0.0:8443 --certfile cert.pem "
               "--keyfile key.pem myproject.wsgi:application",
    )
    parser.add_argument("app", nargs="?",
                        help="the WSGI application: module:name or module:factory()")
    parser.add_argument("-b", "--bind", action="append", metavar="HOST:PORT",
                        help=f"address to listen on, repeatable (default {defaults.binds[0]})")
    add_tls_flags(parser)
    parser.add_argument("--threads", type=int, default=defaults.threads, metavar="N",
                        help=f"threads running the app in each worker process (default {defaults.threads})")
    parser.add_argument("--graceful-timeout", type=float, default=defaults.graceful_timeout,
                        metavar="SECONDS",
                        help="time in-flight requests get after SIGTERM/SIGINT "
                             f"(default {defaults.graceful_timeout:g})")
    parser.add_argument("--max-concurrent-streams", type=int,
                        default=defaults.max_concurrent_streams, metavar="N",
                        help="HTTP/2 streams a client may have open at once "
                             f"(default {defaults.max_concurrent_streams})")
    parser.add_argument("--max-requests-per-connection", type=int,
                        default=defaults.max_requests_per_connection, metavar="N",
                        help="requests per connection before a graceful close, 0 for no cap "
                        f"(default {defaults.max_requests_per_connection})")
    parser.add_argument("--max-body-size", type=int, default=None, metavar="BYTES",
                        help="largest request body accepted, larger gets 413 (default: no limit)")
    parser.add_argument("--max-connections", type=int, default=defaults.max_connections,
                        metavar="N", help=f"connections served at once (default {defaults.max_connections})")
    parser.add_argument("--idle-timeout", type=float, default=defaults.idle_timeout,
                        metavar="SECONDS", help="close connections idle this long "
                        f"(default {defaults.idle_timeout:g})")
    for flag, field, what in (("--handshake-timeout", "handshake_timeout", "a TLS handshake and a new connection's first bytes"),
                              ("--header-timeout", "header_timeout", "an HTTP/1.1 request's headers (then 408)"),
                              ("--write-stall-timeout", "write_stall_timeout", "a client that stops reading")):
        parser.add_argument(flag, type=float, default=getattr(defaults, field), metavar="SECONDS",
                            dest=field, help=f"time allowed for {what} (default {getattr(defaults, field):g})")
    for flag, field, what in (("--response-memory", "response_memory", "the whole process"),
                              ("--response-memory-per-connection", "response_memory_per_connection",
                               "one HTTP/2 connection")):
        parser.add_argument(flag, type=int, default=getattr(defaults, field), metavar="BYTES",
                            dest=field, help=f"unsent response bytes {what} may hold before new "
                            f"app calls wait (default {getattr(defaults, field)})")
    parser.add_argument("--forwarded-allow-ips", metavar="IPS",
                        default=defaults.forwarded_allow_ips,
                        help="peers whose Forwarded / X-Forwarded-* headers are believed: "
                        "addresses and CIDR ranges, or '*' "
                        f"(default {defaults.forwarded_allow_ips})")
    parser.add_argument("--proxy-protocol", action="store_true",
                        help="every connection opens with a PROXY protocol v1/v2 header "
                        "(HAProxy's send-proxy), from a peer of --forwarded-allow-ips")
    parser.add_argument("--root-path", metavar="PATH", default=defaults.root_path,
                        help="the app's mount point behind a proxy: SCRIPT_NAME, stripped "
                        "from PATH_INFO")
    parser.add_argument("--server-header", action=argparse.BooleanOptionalAction,
                        default=defaults.server_header,
                        help="send 'Server: fasth2' unless the app sets a Server field "
                        "(default: on; Date is always sent)")
    parser.add_argument("--backlog", type=int, default=defaults.backlog, metavar="N",
                        help=f"listen backlog (default {defaults.backlog})")
    add_process_flags(parser, defaults)
    parser.add_argument("--log-level", choices=LOG_LEVELS, default=defaults.log_level,
                        help=f"logging level (default {defaults.log_level})")
    parser.add_argument("--error-logfile", metavar="FILE",
                        help="write the error log to FILE (default '-': stderr)")
    parser.add_argument("--log-config", metavar="FILE",
                        help="a logging configuration applied after fasth2's own: "
                        "dictConfig as .json or .toml, else the ini format of fileConfig "
                        "(loggers: fasth2.error, fasth2.access)")
    parser.add_argument("--access-logfile", metavar="FILE",
                        help="write the access log to FILE ('-': stdout); off by default")
    parser.add_argument("--access-logformat", metavar="FORMAT",
                        default=defaults.access_log_format,
                        help="the access log's line, with gunicorn's atoms (%%(h)s, "
                        "%%(r)s, %%(s)s, %%({header}i)s...) and fasth2's: %%(protocol)s, "
                        "%%(stream)s, %%(delivered)s, %%(received)s, %%(outcome)s "
                        f"(default '{defaults.access_log_format.replace('%', '%%')}')")
    parser.add_argument("--version", action="version",
                        version=f"fasth2 {VERSION} ({BUILD})")
    return parser


def add_tls_flags(parser: argparse.ArgumentParser) -> None:
    """TLS: the certificate, client certificates (mutual TLS), protocol versions."""
    group = parser.add_argument_group("TLS", "SIGHUP re-reads the certificate files.")
    group.add_argument("--certfile", help="PEM certificate (chain): serve h2 over TLS")
    group.add_argument("--keyfile", help="PEM private key for --certfile")
    group.add_argument("--keyfile-password", metavar="PASSWORD",
                       help="password of an encrypted --keyfile (visible to ps: prefer a "
                       "key file readable by the server's user alone)")
    group.add_argument("--ca-certs", metavar="FILE",
                       help="PEM CAs that client certificates must chain to")
    group.add_argument("--cert-reqs", type=_cert_reqs, default="none",
                       metavar="{none,optional,required}",
                       help="client certificates: none (default), optional (checked if "
                       "sent) or required (mutual TLS); gunicorn's 0/1/2 too")
    group.add_argument("--ciphers", metavar="STRING",
                       help="OpenSSL cipher string for TLS 1.2 (default: ECDHE with AES-GCM "
                       "or ChaCha20)")
    group.add_argument("--tls-min-version", choices=("1.2", "1.3"), default="1.2",
                       help="oldest TLS version accepted (default 1.2)")


def _cert_reqs(text: str) -> str:
    names = ("none", "optional", "required")
    if text.isdigit() and int(text) < len(names):
        return names[int(text)]  # gunicorn's --cert-reqs takes ssl.CERT_* numbers
    if text not in names:
        raise argparse.ArgumentTypeError(f"{text!r}: expected none, optional or required")
    return text


def add_process_flags(parser: argparse.ArgumentParser, defaults: Config) -> None:
    """The process model's flags, named as gunicorn names them."""
    group = parser.add_argument_group(
        "processes", "With --workers above 1, --max-requests or --reload, a supervisor "
        "runs the workers (SIGHUP reloads them, SIGTTIN/SIGTTOU add/remove one).")
    group.add_argument("-w", "--workers", type=int, default=defaults.workers, metavar="N",
                       help=f"worker processes (default {defaults.workers})")
    group.add_argument("--max-requests", type=int, default=defaults.max_requests, metavar="N",
                       help="restart a worker gracefully after about N requests, "
                       "0 for never (default 0)")
    group.add_argument("--max-requests-jitter", type=int, default=defaults.max_requests_jitter,
                       metavar="N", help="add up to N (random) to --max-requests per worker, "
                       "so that they do not restart together (default 0)")
    group.add_argument("-t", "--timeout", type=float, default=defaults.timeout,
                       metavar="SECONDS", help="kill and replace a worker whose event loop "
                       f"has not run for this long, 0 for never (default {defaults.timeout:g})")
    group.add_argument("--preload", action="store_true",
                       help="import the app once in the supervisor before starting workers")
    group.add_argument("--reuse-port", action="store_true",
                       help="SO_REUSEPORT: a socket per worker on TCP binds (the kernel "
                       "spreads connections), and a port other servers may share")
    group.add_argument("-m", "--umask", type=_octal, default=defaults.umask, metavar="MASK",
                       help="umask (octal) for unix sockets: who may connect (default: "
                       "the process's)")
    group.add_argument("-p", "--pid", dest="pidfile", metavar="FILE",
                       help="write the (supervisor's) process id to FILE")
    group.add_argument("--reload", action="store_true",
                       help="restart the workers when a Python file changes "
                       "(development; needs fasth2[reload])")
    group.add_argument("--reload-dir", action="append", dest="reload_dirs", metavar="DIR",
                       help="a folder --reload watches, repeatable (default: the current one)")


def _octal(text: str) -> int:
    try:
        return int(text, 0) if text[:2].lower() in ("0o", "0x") else int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an octal mask such as 007") from None


def config_from_args(args: argparse.Namespace) -> Config:
    """The Config the parsed flags describe (ValueError for a value none can hold)."""
    TrustedPeers(args.forwarded_allow_ips)  # an entry that is no address: refused now
    options = {
        "threads": args.threads,
        "graceful_timeout": args.graceful_timeout,
        "max_concurrent_streams": args.max_concurrent_streams,
        "max_requests_per_connection": args.max_requests_per_connection,
        "workers": args.workers,
        "max_requests": args.max_requests,
        "max_requests_jitter": args.max_requests_jitter,
        "timeout": args.timeout,
        "preload": args.preload,
        "reuse_port": args.reuse_port,
        "umask": args.umask,
        "pidfile": args.pidfile,
        "reload": args.reload,
        "reload_dirs": tuple(args.reload_dirs or ()),
        "max_body_size": args.max_body_size,
        "max_connections": args.max_connections,
        "idle_timeout": args.idle_timeout,
        "handshake_timeout": args.handshake_timeout,
        "header_timeout": args.header_timeout,
        "write_stall_timeout": args.write_stall_timeout,
        "response_memory": args.response_memory,
        "response_memory_per_connection": args.response_memory_per_connection,
        "backlog": args.backlog,
        "server_header": args.server_header,
        "forwarded_allow_ips": args.forwarded_allow_ips,
        "root_path": args.root_path.rstrip("/"),
        "proxy_protocol": args.proxy_protocol,
        "log_level": args.log_level,
        "access_logfile": args.access_logfile,
        "error_logfile": args.error_logfile,
        "log_config": args.log_config,
        "access_log_format": check_format(args.access_logformat),
        "certfile": args.certfile,
        "keyfile": args.keyfile,
        "keyfile_password": args.keyfile_password,
        "ca_certs": args.ca_certs,
        "cert_reqs": args.cert_reqs,
        "ciphers": args.ciphers,
        "tls_min_version": args.tls_min_version,
    }
    if args.bind:
        options["binds"] = tuple(args.bind)
    return Config(**options)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.app is None:
        parser.error("the application path (module:app) is required")
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        configure_logging(config.log_level, config.error_logfile, config.log_config)
    except LogConfigError as exc:
        print(f"fasth2: error: {exc}", file=sys.stderr)
        return 1
    try:
        with pid_file(config.pidfile):
            return serve_from_command_line(args.app, config)
    except (AppLoadError, StartupError) as exc:
        print(f"fasth2: error: {exc}", file=sys.stderr)
        return 1


def serve_from_command_line(app_path: str, config: Config) -> int:
    """One process, or a supervisor and its workers; the exit status."""
    logging.getLogger("fasth2.error").info("fasth2 %s (%s), app %s", VERSION, BUILD, app_path)
    if not config.supervised:
        run(load_app(app_path), config)
        return 0
    return Supervisor(load_app(app_path) if config.preload else app_path, config).run()


if __name__ == "__main__":
    sys.exit(main())
