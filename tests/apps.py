"""WSGI applications the tests serve, one route per behaviour under test.

The server runs them in a subprocess; where a test needs to observe something inside
the app (an iterator closed, a thread finished), the app appends a line to the file
named by the FASTH2_TEST_EVENTS environment variable. Every route runs under
``wsgiref.validate.validator``, which checks both sides of PEP 3333 (the environ and
input fasth2 hands over, the response the app gives back), except the routes that
break PEP 3333 on purpose to test the server's answer to a broken app, and requests
whose list body is the point of the test (``/blob``, ``whole=1``, ``raw=1``): the
validator hands the server an iterator in place of the app's list, and lists take a
path of their own (one hand-off with END_STREAM; ATTACKS.md's "one big bytes object").
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from urllib.parse import parse_qs
from wsgiref.validate import validator

CHUNK = 64 * 1024


def record(line: str) -> None:
    """Append an observation for the test process to read."""
    path = os.environ.get("FASTH2_TEST_EVENTS")
    if path:
        with open(path, "a") as events:
            events.write(line + "\n")


def _query(environ: dict) -> dict:
    return {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}


def _read_all(stream) -> bytes:
    """The whole request body, read as PEP 3333 allows (``read(size)``, no size-less read)."""
    return b"".join(iter(lambda: stream.read(CHUNK), b""))


def _text(start_response, body: bytes, status: str = "200 OK", extra=()) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain"),
                            ("Content-Length", str(len(body)))] + list(extra))
    return [body]


class TrackedBody:
    """A response iterable that records when the server closes it."""

    def __init__(self, name: str, chunks: int, delay: float) -> None:
        self.name = name
        self.chunks = chunks
        self.delay = delay

    def __iter__(self):
        block = b"x" * CHUNK
        for _ in range(self.chunks):
            if self.delay:
                time.sleep(self.delay)
            yield block

    def close(self) -> None:
        record(f"closed {self.name}")


def hello(environ, start_response):
    return _text(start_response, b"hello world\n")


def echo(environ, start_response):
    body = _read_all(environ["wsgi.input"])
    start_response("200 OK", [("Content-Type", environ.get("CONTENT_TYPE", "application/octet-stream")),
                              ("Content-Length", str(len(body)))])
    return [body]


def echo_stream(environ, start_response):
    """Echo while reading: the response streams as the upload arrives."""
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    stream = environ["wsgi.input"]
    return iter(lambda: stream.read(CHUNK), b"")


def digest(environ, start_response):
    """The body's length and SHA-256. ``until=T``: sleep until time.time() is T before reading;
    ``slow=1``: read in 8 KiB pieces, pausing now and then (a slow reader)."""
    query = _query(environ)
    time.sleep(max(0.0, float(query.get("until", "0")) - time.time()))
    stream = environ["wsgi.input"]
    hasher = hashlib.sha256()
    size = 0
    while True:
        piece = stream.read(8192 if query.get("slow") else CHUNK)
        if not piece:
            break
        size += len(piece)
        hasher.update(piece)
        if query.get("slow") and size % (16 * 8192) == 0:
            time.sleep(0.001)
    return _text(start_response, f"{size} {hasher.hexdigest()}".encode())


def environ_json(environ, start_response):
    """The environ as JSON (strings and the wsgi.* scalars)."""
    shown = {}
    for key, value in environ.items():
        if isinstance(value, (str, bool, int)) or key == "wsgi.version":
            shown[key] = value
    stream = environ["wsgi.input"]
    shown["wsgi.input.type"] = type(getattr(stream, "input", stream)).__name__  # (validator's wrapper)
    shown["wsgi.errors.has_write"] = hasattr(environ["wsgi.errors"], "write")
    shown["body"] = _read_all(environ["wsgi.input"]).decode("latin-1")
    return _text(start_response, json.dumps(shown).encode(), extra=[("Content-Type", "application/json")])


def status(environ, start_response):
    code = _query(environ).get("code", "200")
    reasons = {"201": "Created", "204": "No Content", "302": "Found", "404": "Not Found",
               "418": "I'm a teapot", "503": "Service Unavailable"}
    headers = [("Content-Length", "0")]
    if code not in ("204", "304"):
        headers.append(("Content-Type", "text/plain"))
    start_response(f"{code} {reasons.get(code, 'Whatever')}", headers)
    return []


def headers(environ, start_response):
    """Custom, repeated and HTTP/1-only headers (the last must be dropped)."""
    start_response("200 OK", [
        ("Content-Type", "text/plain"),
        ("X-Custom", "value  "),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
        ("Connection", "close"),
        ("Keep-Alive", "timeout=5"),
        ("Transfer-Encoding", "chunked"),
        ("Upgrade", "h2c"),
        ("Proxy-Connection", "close"),
        ("Content-Length", "2"),
    ])
    return [b"ok"]


def use_write(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written ")
    write(b"")
    return [b"then returned"]


def generator(environ, start_response):
    """start_response called lazily, on the first iteration (PEP 3333 allows it)."""
    def body():
        start_response("200 OK", [("Content-Type", "text/plain")])
        for i in range(5):
            yield f"part {i}\n".encode()
    return body()


def error_before(environ, start_response):
    raise ValueError("boom before the response")


def error_after(environ, start_response):
    def body():
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"x" * CHUNK
        yield b"x" * CHUNK
        raise ValueError("boom mid-body")
    return body()


def exc_info(environ, start_response):
    """An app that starts a response, fails, and replaces it via exc_info."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise KeyError("handled")
    except KeyError:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info())
    return [b"replaced"]


def bad_status(environ, start_response):
    start_response("OK", [])
    return [b"never"]


def bad_header(environ, start_response):
    start_response("200 OK", [("X-Bad", "evil\r\nInjected: yes")])
    return [b"never"]


def lines(environ, start_response):
    """Report how the body splits into lines with readline/readlines/iteration."""
    stream = environ["wsgi.input"]
    mode = _query(environ).get("mode", "readline")
    if mode == "readline":
        got = []
        while True:
            line = stream.readline()
            if not line:
                break
            got.append(line)
    elif mode == "readlines":
        got = stream.readlines()
    elif mode == "iter":
        got = list(stream)
    else:  # read(n) in small pieces
        got = list(iter(lambda: stream.read(7), b""))
    body = json.dumps([g.decode("latin-1") for g in got]).encode()
    return _text(start_response, body)


def tracked(environ, start_response):
    """A long, slow body whose close() is recorded (reset tests)."""
    query = _query(environ)
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return TrackedBody(query.get("name", "tracked"), int(query.get("chunks", "1000")),
                       float(query.get("delay", "0.01")))


def big(environ, start_response):
    """``mib`` MiB in 64 KiB chunks (``whole=1``: one piece); ``priority`` sets a
    response priority header."""
    query = _query(environ)
    mib = float(query.get("mib", "50"))
    size = int(mib * 1024 * 1024)
    headers = [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))]
    if "priority" in query:
        headers.append(("Priority", query["priority"]))
    start_response("200 OK", headers)
    if query.get("whole"):
        return [b"z" * size]
    full, rest = divmod(size, CHUNK)

    def body():
        block = b"z" * CHUNK
        for _ in range(full):
            yield block
        if rest:
            yield b"z" * rest
    return body()


def blob(environ, start_response):
    """A new ``kib`` KiB bytes object in one piece; records ``blob NAME`` when called."""
    query = _query(environ)
    record(f"blob {query.get('name', '')}")
    return _text(start_response, b"b" * (int(query.get("kib", "1024")) * 1024))


def sleep(environ, start_response):
    seconds = float(_query(environ).get("s", "1"))
    record("sleep started")
    time.sleep(seconds)
    record("sleep finished")
    return _text(start_response, f"slept {seconds}\n".encode())


def hints(environ, start_response):
    """``n`` 103 Early Hints (a preload link each), then the response; ``late=1``: one
    more after the body began, which must be refused."""
    query = _query(environ)
    for index in range(int(query.get("n", "1"))):
        environ["wsgi.early_hints"]([("Link", f"</style{index}.css>; rel=preload; as=style")])
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"hinted\n"
    if query.get("late"):
        try:
            environ["wsgi.early_hints"]([("Link", "</late.css>; rel=preload")])
        except RuntimeError as exc:
            yield f"refused: {exc}\n".encode()


def grpc_like(environ, start_response):
    """gRPC's shape: length-prefixed messages in (a flag byte, a 4-byte big-endian
    length, the payload), each answered upper-cased, then a ``grpc-status`` trailer (and
    ``x-request-trailers``: the request's own, as received). ``key=gunicorn`` sends the
    trailers through gunicorn's key."""
    data = _read_all(environ["wsgi.input"])
    messages = []
    while data:
        length = int.from_bytes(data[1:5], "big")
        messages.append(data[5:5 + length])
        data = data[5 + length:]
    key = "gunicorn.http2.send_trailers" if _query(environ).get("key") == "gunicorn" \
        else "fasth2.send_trailers"
    start_response("200 OK", [("Content-Type", "application/grpc")])
    for message in messages:
        reply = message.upper()
        yield b"\0" + len(reply).to_bytes(4, "big") + reply
    received = ";".join(f"{name}={value}" for name, value in environ["fasth2.request_trailers"])
    environ[key]([("grpc-status", "0"), ("grpc-message", f"{len(messages)} messages"),
                  ("x-request-trailers", received)])


def ident(environ, start_response):
    n = _query(environ).get("n", "")
    return _text(start_response, f"response for {n}\n".encode() * 10)


def declared(environ, start_response):
    """``/declared?length=N&body=M[&gen=K][&status=S]``: declares Content-Length N (any
    text), sends M bytes (a list body; ``gen``: a generator of K-byte chunks)."""
    query = _query(environ)
    start_response(query.get("status", "200") + " Whatever",
                   [("Content-Type", "text/plain"), ("Content-Length", query["length"])])
    size, step = int(query["body"]), int(query.get("gen", 0))
    return [b"d" * size] if not step else (b"d" * min(step, size - i) for i in range(0, size, step))


def policy(environ, start_response):
    """``/policy[?hold=S]``: "POLICY THREAD": the scheduling policy (``batch``, ``other``...)
    and identity of the thread running this call, once it has read the request body
    and held the thread S seconds."""
    _read_all(environ["wsgi.input"])
    time.sleep(float(_query(environ).get("hold", 0)))
    names = {getattr(os, f"SCHED_{name.upper()}"): name
             for name in ("other", "batch", "idle", "fifo", "rr")}
    policy = names[os.sched_getscheduler(0)]
    return _text(start_response, f"{policy} {threading.get_ident()}".encode())


ROUTES = {
    "/hello": hello, "/echo": echo, "/echo-stream": echo_stream, "/digest": digest, "/environ": environ_json,
    "/status": status, "/headers": headers, "/write": use_write, "/generator": generator,
    "/error-before": error_before, "/error-after": error_after, "/exc-info": exc_info,
    "/bad-status": bad_status, "/bad-header": bad_header, "/lines": lines,
    "/tracked": tracked, "/big": big, "/blob": blob, "/sleep": sleep, "/id": ident,
    "/hints": hints, "/grpc": grpc_like, "/declared": declared, "/policy": policy,
}


# Broken on purpose: the validator would stop them before the server sees what they do.
UNCHECKED = {"/bad-status", "/bad-header", "/declared"}
CHECKED_ROUTES = {path: route if path in UNCHECKED else validator(route)
                  for path, route in ROUTES.items()}


@validator
def not_found(environ, start_response):
    return _text(start_response, b"not found\n", "404 Not Found")


def app(environ, start_response):
    """Dispatch on PATH_INFO to the routes above, each under the validator."""
    path = environ["PATH_INFO"]
    path = "/environ" if path.startswith("/environ/") else path
    query = environ["QUERY_STRING"]
    listed = path == "/blob" or "whole=1" in query or "raw=1" in query
    routes = ROUTES if listed else CHECKED_ROUTES
    return routes.get(path, not_found)(environ, start_response)


def make_app():
    """A factory, for the ``module:factory()`` form of the command line."""
    return app
