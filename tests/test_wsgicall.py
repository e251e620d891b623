"""The app thread's side of a WSGI call runs as Python (exchange.py, handoff.py,
wsgi.py) or as the same modules compiled with typed objects (``fasth2._exchange_c``...:
see setup.py's TYPED_TWINS and twins.py). Each case here runs one app through both
builds, in this thread, on a real exchange whose wire records what reaches it, and
demands the same record, the same log lines and the same calls of ``close``; a few
cases also say what that record must be, so that two builds broken alike do not pass.
(The whole suite runs on each build too, through real servers.)
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
from typing import Callable, NamedTuple

import pytest

from fasth2 import exchange as pure_exchange
from fasth2 import handoff, wsgi
from fasth2.body import EMPTY_BODY
from fasth2.errors import StreamAborted
from fasth2.files import FileWrapper

from . import apps


class Twins(NamedTuple):
    """One build's classes for a call: the exchange's, and the app thread's side."""

    Exchange: type
    ConnectionInfo: type
    LoopInbox: type
    ThreadHandOff: type
    run_app: Callable


try:
    from fasth2._exchange_c import ConnectionInfo as CompiledInfo
    from fasth2._exchange_c import Exchange as CompiledExchange
    from fasth2._handoff_c import LoopInbox as CompiledInbox
    from fasth2._handoff_c import ThreadHandOff as CompiledHandOff
    from fasth2._wsgi_c import run_app as compiled_run_app
except ImportError:
    COMPILED = None
else:
    COMPILED = Twins(CompiledExchange, CompiledInfo, CompiledInbox, CompiledHandOff,
                     compiled_run_app)

needs_compiled = pytest.mark.skipif(COMPILED is None, reason="the speedups are not built")
PURE = Twins(pure_exchange.Exchange, pure_exchange.ConnectionInfo, handoff.LoopInbox,
             handoff.ThreadHandOff, wsgi.run_app)


class Socketless:
    """What ConnectionInfo asks of a transport."""

    def get_extra_info(self, name: str, default=None):
        return {"sockname": ("127.0.0.1", 80), "peername": ("127.0.0.1", 50000)}.get(name, default)


class RecordingWire:
    """The exchange's wire: what reaches it, described. Body bytes are delivered as
    they arrive (so that a streamed body never waits); once the record holds
    ``abort_after`` entries, the client goes away (the exchange is aborted)."""

    def __init__(self, can_sendfile: bool, abort_after: int | None) -> None:
        self.record: list = []
        self.can_sendfile = can_sendfile
        self.exchange = None
        self._abort_after = abort_after

    def reserve(self, size: int) -> None:
        self.record.append(("reserve", size))

    def respond(self, headers, data: bytes, end: bool) -> None:
        self.record.append(("Data", data, end) if headers is None
                           else ("Response", headers, data, end))
        if data:
            self.exchange.drained(len(data))
        self._maybe_go_away()

    def end_with_trailers(self, fields: list) -> None:
        self.record.append(("Trailers", fields))
        self._maybe_go_away()

    def inform(self, headers: list) -> None:
        self.record.append(("Informational", headers))
        self._maybe_go_away()

    def reset(self, code) -> None:
        self.record.append(("Reset", int(code)))

    def send_file(self, handoff_, headers, fd, offset, count) -> None:
        self.record.append(("send_file", headers, offset, count))

    def _maybe_go_away(self) -> None:
        if self._abort_after is not None and len(self.record) >= self._abort_after:
            self.exchange.abort()


def make_exchange(twins: Twins, can_sendfile: bool = False, abort_after: int | None = None):
    """A real exchange of ``twins``' build (stream 7, no body), on a recording wire."""
    wire = RecordingWire(can_sendfile, abort_after)
    exchange = twins.Exchange(wire, twins.ConnectionInfo(Socketless(), False), 7, "2", [])
    exchange.body = EMPTY_BODY
    wire.exchange = exchange
    return exchange


def call_now(callback, *args) -> None:
    """The loop's call_soon_threadsafe, here: at once, on this thread."""
    callback(*args)


class Closable:
    """A list body whose close() is recorded."""

    def __init__(self, chunks: list, record: list) -> None:
        self.chunks = chunks
        self.record = record

    def __iter__(self):
        return iter(self.chunks)

    def close(self) -> None:
        self.record.append(("close",))


def run(twins: Twins, app, method="GET", path="/", limit=16, **exchange_options) -> list:
    """One call of ``app`` through ``twins``: the record of what reached the wire, log
    lines (level, message, whether a traceback) and closes."""
    exchange = make_exchange(twins, **exchange_options)
    record = exchange.wire.record
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "record": record}
    lines: list = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append((record.levelname, record.getMessage(), record.exc_info is not None))

    logger = logging.getLogger("fasth2.error")
    collect = Collect(logging.DEBUG)
    level = logger.level
    logger.addHandler(collect)
    logger.setLevel(logging.DEBUG)
    try:
        twins.run_app(app, environ, twins.ThreadHandOff(exchange, twins.LoopInbox(call_now), limit))
    finally:
        logger.removeHandler(collect)
        logger.setLevel(level)
    return record + [("log",) + line for line in lines]


# -- the apps ---------------------------------------------------------------------------

def list_body(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello ", b"world"]


def tuple_body(environ, start_response):
    start_response("201 Created", [("X-A", "1")])
    return (b"a", b"", b"b")


def generator_body(environ, start_response):
    start_response("200 OK", [])
    yield b"one"
    yield b""
    yield b"two" * 10  # past the limit of 16: counted, delivered, the app goes on
    yield b"three"


def empty_chunk_first(environ, start_response):
    start_response("200 OK", [])
    yield b""
    yield b"late"


def write_then_list(environ, start_response):
    write = start_response("200 OK", [])
    write(b"written ")
    write(b"")
    return [b"then returned"]


def empty_body(environ, start_response):
    start_response("204 No Content", [])
    return []


def empty_write_sends_the_head(environ, start_response):
    write = start_response("200 OK", [])
    write(b"")
    return [b"body"]


def closable(environ, start_response):
    start_response("200 OK", [])
    return Closable([b"x", b"y"], environ["record"])


def fails_before_start(environ, start_response):
    raise ValueError("no answer")


def fails_after_headers(environ, start_response):
    start_response("200 OK", [])
    yield b"part"
    raise ValueError("half an answer")


def replaces_after_sending(environ, start_response):
    write = start_response("200 OK", [])
    write(b"sent")
    try:
        raise KeyError("too late")
    except KeyError:
        start_response("500 Oops", [], sys.exc_info())
    return [b"never"]


def starts_twice(environ, start_response):
    start_response("200 OK", [])
    start_response("200 OK", [])
    return [b""]


def body_before_start(environ, start_response):
    yield b"early"


def yields_text(environ, start_response):
    start_response("200 OK", [])
    yield "text"


def writes_text(environ, start_response):
    start_response("200 OK", [])("text")
    return []


def bad_status(environ, start_response):
    start_response("nonsense", [])
    return [b""]


def with_trailers(environ, start_response):
    start_response("200 OK", [("Trailer", "grpc-status")])
    yield b"body"
    environ["fasth2.send_trailers"]([("grpc-status", "0")])


def trailers_via_gunicorns_key(environ, start_response):
    start_response("200 OK", [])
    environ["gunicorn.http2.send_trailers"]([("x-t", "1")])
    return [b"list body, trailers"]


def early_hints(environ, start_response):
    environ["wsgi.early_hints"]([("Link", "</a.css>; rel=preload")])
    environ["wsgi.early_hints"]([("Link", "</b.js>; rel=preload")])
    start_response("200 OK", [])
    return [b"hinted"]


def hints_too_late(environ, start_response):
    start_response("200 OK", [])("x")
    environ["wsgi.early_hints"]([("Link", "</late>")])
    return []


def file_body(environ, start_response):
    start_response("200 OK", [("Content-Length", "5")])
    return FileWrapper(open(__file__, "rb"), 3)


def file_without_length(environ, start_response):
    start_response("200 OK", [])
    return FileWrapper(open(__file__, "rb"))


def file_longer_than_it_is(environ, start_response):
    start_response("200 OK", [("Content-Length", str(10 ** 9))])
    return FileWrapper(open(__file__, "rb"))


def short_of_its_length(environ, start_response):
    start_response("200 OK", [("Content-Length", "10")])
    return [b"abc"]


def streamed_past_its_length(environ, start_response):
    start_response("200 OK", [("Content-Length", "4")])
    yield b"abc"
    yield b"def"
    yield b"ghi"


def written_past_its_length(environ, start_response):
    write = start_response("200 OK", [("Content-Length", "2")])
    write(b"abc")
    return [b"def"]


def body_on_204(environ, start_response):
    start_response("204 No Content", [])
    return [b"nothing"]


def length_not_a_number(environ, start_response):
    start_response("200 OK", [("Content-Length", "1_0")])
    return [b"0123456789"]


def stream_of(count: int):
    def app(environ, start_response):
        start_response("200 OK", [])
        for _ in range(count):
            yield b"chunk"
    return app


APPS = [list_body, tuple_body, generator_body, empty_chunk_first, write_then_list, empty_body,
        empty_write_sends_the_head, closable, fails_before_start, fails_after_headers,
        apps.exc_info, replaces_after_sending, starts_twice, body_before_start,
        yields_text, writes_text, bad_status, with_trailers, trailers_via_gunicorns_key,
        early_hints, hints_too_late, file_body, file_without_length, file_longer_than_it_is,
        short_of_its_length, streamed_past_its_length, written_past_its_length, body_on_204,
        length_not_a_number]
REQUESTS = [("GET", "/"), ("HEAD", "/"), ("OPTIONS", "*"), ("GET", "*")]


@needs_compiled
@pytest.mark.parametrize("app", APPS, ids=lambda app: app.__name__)
@pytest.mark.parametrize("method, path", REQUESTS)
@pytest.mark.parametrize("can_sendfile", [False, True], ids=["blocks", "sendfile"])
def test_both_twins_answer_alike(app, method, path, can_sendfile):
    pure = run(PURE, app, method, path, can_sendfile=can_sendfile)
    assert pure, "nothing reached the loop"
    assert run(COMPILED, app, method, path, can_sendfile=can_sendfile) == pure


@needs_compiled
@pytest.mark.parametrize("abort_after", [1, 2, 3])
def test_both_twins_stop_alike_when_the_client_goes_away(abort_after):
    pure = run(PURE, stream_of(10), abort_after=abort_after)
    assert ("log", "DEBUG", "stream 7: client went away; application work stopped", False) in pure
    assert run(COMPILED, stream_of(10), abort_after=abort_after) == pure


@pytest.fixture(params=[pytest.param(PURE, id="pure"),
                        pytest.param("compiled", id="compiled", marks=needs_compiled)])
def twins(request):
    return COMPILED if request.param == "compiled" else request.param


def test_a_list_body_is_one_event_with_the_end(twins):
    assert run(twins, list_body) == [
        ("reserve", 11),
        ("Response", [(b":status", b"200"), (b"content-type", b"text/plain")],
         b"hello world", True)]


def test_a_head_request_sends_the_head_alone(twins):
    assert run(twins, list_body, method="HEAD") == [
        ("Response", [(b":status", b"200"), (b"content-type", b"text/plain")], b"", True)]


def test_a_failure_before_the_head_is_a_500_and_after_it_a_reset(twins):
    before = run(twins, fails_before_start)
    assert before[-2][0] == "Response" and before[-2][1][0] == (b":status", b"500")
    assert before[-1][:2] == ("log", "ERROR") and before[-1][3]
    after = run(twins, fails_after_headers)
    assert after[:3] == [("reserve", 4), ("Response", [(b":status", b"200")], b"part", False),
                         ("Reset", 2)]


def test_a_body_is_held_to_its_content_length(twins):
    """Short: what there is, then a reset. Long: cut at the length, one error logged.
    None on a 204. A length that is no number: the app's error, a 500."""
    record = run(twins, short_of_its_length)
    assert record[1:3] == [("Response", [(b":status", b"200"), (b"content-length", b"10")],
                            b"abc", False), ("Reset", 2)]
    assert record[3][:2] == ("log", "ERROR") and "7 bytes short" in record[3][2]
    for app in (streamed_past_its_length, written_past_its_length):
        record = run(twins, app)
        sent = b"".join(entry[-2] for entry in record if entry[0] in ("Response", "Data"))
        assert sent == (b"abcd" if app is streamed_past_its_length else b"ab")
        assert record[-2][-1] is True  # the stream ends
        assert [entry[2] for entry in record if entry[0] == "log"] == [
            "the app sent more body than its Content-Length (or its status) allows; "
            "the rest is dropped"]
    assert run(twins, body_on_204)[0] == ("Response", [(b":status", b"204")], b"", True)
    record = run(twins, length_not_a_number)
    assert record[-2][1][0] == (b":status", b"500") and record[-1][:2] == ("log", "ERROR")


def test_trailers_follow_the_body(twins):
    assert run(twins, with_trailers)[-1] == ("Trailers", [(b"grpc-status", b"0")])


def test_early_hints_go_ahead_of_the_response(twins):
    record = run(twins, early_hints)
    assert [entry[0] for entry in record] == ["Informational", "Informational", "reserve",
                                              "Response"]
    assert record[0][1] == [(b":status", b"103"), (b"link", b"</a.css>; rel=preload")]


def test_a_file_goes_to_sendfile_where_the_wire_can(twins):
    record = run(twins, file_body, can_sendfile=True)
    assert record == [("send_file", [(b":status", b"200"), (b"content-length", b"5")], 0, 5)]
    record = run(twins, file_without_length, can_sendfile=True)
    size = os.path.getsize(__file__)
    assert record == [("send_file", [(b":status", b"200"), (b"content-length", b"%d" % size)],
                       0, size)]


def test_close_is_called(twins):
    assert ("close",) in run(twins, closable)


def test_an_aborted_exchange_runs_no_app(twins):
    exchange = make_exchange(twins)
    exchange.abort()
    called = []
    twins.run_app(lambda environ, start_response: called.append(1),
                  {"REQUEST_METHOD": "GET", "PATH_INFO": "/"},
                  twins.ThreadHandOff(exchange, twins.LoopInbox(call_now), 16))
    assert called == [] and exchange.wire.record == []


def test_a_closed_loop_stops_the_app(twins):
    """call_soon_threadsafe raises RuntimeError once the loop is closed: each hand-off
    that finds it closed stops the app."""
    def closed(callback, *args):
        raise RuntimeError("Event loop is closed")

    hand_off = twins.ThreadHandOff(make_exchange(twins), twins.LoopInbox(closed), 16)
    with pytest.raises(StreamAborted):
        hand_off.submit([(b":status", b"200")], b"", True)
    with pytest.raises(StreamAborted):
        hand_off.submit([(b":status", b"200")], b"x", False)


@needs_compiled
def test_the_hand_offs_expose_the_same_calls():
    def public(cls):  # (and _hand, which http1's send_file calls)
        return {name: inspect.signature(getattr(cls, name)).parameters.keys()
                if callable(getattr(cls, name)) else "attribute"
                for name in dir(cls) if not name.startswith("_") or name == "_hand"}
    pure, fast = public(PURE.ThreadHandOff), public(COMPILED.ThreadHandOff)
    assert set(fast) == set(pure)
    for name, parameters in pure.items():
        if parameters != "attribute":
            assert list(fast[name]) == list(parameters), name
