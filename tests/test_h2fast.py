"""Our replacements for h2's internals behave exactly like h2 itself.

- ``h2fast.send_data`` (copied or as pieces) and ``send_headers`` yield the bytes and the state h2's own
  methods would;
- ``validate_request_headers`` accepts exactly what h2's inbound validation accepts;
- what ``encode_response_headers`` accepts always passes h2's outbound validation.
Both speedups builds are checked.
"""

from __future__ import annotations

import h2.config
import h2.connection
import h2.events
import h2.stream
import pytest
from h2.connection import ConnectionState
from h2.errors import ErrorCodes
from h2.exceptions import ProtocolError
from h2.settings import SettingCodes
from h2.utilities import HeaderValidationFlags, validate_headers, validate_outbound_headers
from hpack import Encoder
from hyperframe.frame import (DataFrame, GoAwayFrame, HeadersFrame, PriorityFrame, RstStreamFrame,
                             SettingsFrame, WindowUpdateFrame)
from hypothesis import given, settings
from hypothesis import strategies as st

from fasth2 import _speedups_py, h2fast
from fasth2.protocol import _H2_CONFIG
from fasth2.errors import MalformedHeaders

from .test_speedups import IMPLEMENTATIONS

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request):
    return request.param


def server_with_open_stream(max_frame_size: int, window: int,
                            respond: bool = True) -> h2.connection.H2Connection:
    """A server connection with stream 1 open, its response headers sent if ``respond``."""
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    settings_frame = SettingsFrame(0)
    settings_frame.settings = {SettingCodes.MAX_FRAME_SIZE: max_frame_size,
                               SettingCodes.INITIAL_WINDOW_SIZE: window}
    headers = HeadersFrame(1, flags=["END_HEADERS", "END_STREAM"])
    headers.data = Encoder().encode([(":method", "GET"), (":scheme", "http"),
                                     (":authority", "a"), (":path", "/")])
    conn.receive_data(PREFACE + settings_frame.serialize() + headers.serialize() +
                      WindowUpdateFrame(0, window_increment=window).serialize())
    if respond:
        conn.send_headers(1, [(":status", "200")])
    conn.data_to_send()
    return conn


def snapshot(stream) -> dict:
    """Everything h2 keeps of a stream (its attributes, its state machine's and its
    window manager's), so that a new attribute of h2's is compared too."""
    fields = {name: value for name, value in vars(stream).items()
              if name not in ("config", "state_machine", "_inbound_window_manager")}
    fields["machine"] = dict(vars(stream.state_machine))  # (copies: h2 goes on changing them)
    fields["window"] = dict(vars(stream._inbound_window_manager))
    return fields


def layout(stream) -> list:
    """A stream's attributes and its parts', names in the order they were set, with
    their values (the parts compared by their own layouts)."""
    own = [(name, value) for name, value in vars(stream).items()
           if name not in ("state_machine", "_inbound_window_manager")]
    return [list(vars(stream)), own, list(vars(stream.state_machine).items()),
            list(vars(stream._inbound_window_manager).items())]


@pytest.mark.parametrize("stream_id, inbound, outbound", [(1, 65535, 65535), (7, 0, 2**31 - 1),
                                                          (2**31 - 1, 1 << 20, 1)])
def test_new_stream_is_h2s_stream(stream_id, inbound, outbound):
    """Attribute for attribute, in order (the class's shared key layout), as h2 makes it."""
    config = h2.config.H2Configuration(client_side=False)
    ours = h2fast.new_stream(stream_id, config, inbound, outbound)
    theirs = h2.stream.H2Stream(stream_id, config=config, inbound_window_size=inbound,
                                outbound_window_size=outbound)
    for part in (lambda s: s, lambda s: s.state_machine, lambda s: s._inbound_window_manager):
        assert type(part(ours)) is type(part(theirs))
    assert layout(ours) == layout(theirs)
    # And it lives as h2's does: a request opens it, a response closes it.
    for stream in (ours, theirs):
        stream.max_outbound_frame_size = 16384  # (the connection sets it)
        stream.receive_headers([(b":method", b"GET"), (b":scheme", b"http"),
                                (b":authority", b"a"), (b":path", b"/")], True, None)
        stream.send_headers([(b":status", b"200")], Encoder(), True)
    assert snapshot(ours) == snapshot(theirs)


response_headers = st.lists(
    st.tuples(st.sampled_from([b"content-type", b"x-a", b"set-cookie", b"server"]),
              st.binary(max_size=12_000)), max_size=4)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([16384, 20000]), st.sampled_from([b"200", b"404", b"503"]),
       response_headers, st.sampled_from(["headers only", "body", "trailers"]))
def test_send_headers_matches_h2(frame_size, status, extra, shape):
    """Same bytes (CONTINUATIONs included) and the same h2 state as h2's send_headers."""
    conns = [server_with_open_stream(frame_size, 1 << 20, respond=False) for _ in range(2)]
    # h2 with its own (default) header handling switched off, as the server runs it.
    for conn in conns:
        conn.config.validate_outbound_headers = conn.config.normalize_outbound_headers = False
    ours, theirs = conns
    headers = [(b":status", status), *extra]
    h2fast.send_headers(ours, 1, headers, shape == "headers only")
    theirs.send_headers(1, headers, end_stream=shape == "headers only")
    if shape == "trailers":
        h2fast.send_headers(ours, 1, [(b"x-trailer", b"1")], True)
        theirs.send_headers(1, [(b"x-trailer", b"1")], end_stream=True)
    assert ours.data_to_send() == theirs.data_to_send()
    assert snapshot(ours.streams[1]) == snapshot(theirs.streams[1])
    assert ours.state_machine.state == theirs.state_machine.state


def test_send_headers_errors_like_h2():
    conn = server_with_open_stream(16384, 65535, respond=False)
    h2fast.send_headers(conn, 1, [(b":status", b"100")], False)  # informational: h2's path
    h2fast.send_headers(conn, 1, [(b":status", b"200")], False)
    with pytest.raises(ProtocolError):  # trailers need END_STREAM
        h2fast.send_headers(conn, 1, [(b"x-trailer", b"1")], False)
    with pytest.raises(ProtocolError):  # never opened
        h2fast.send_headers(conn, 3, [(b":status", b"200")], False)


def test_frame_headers_layout(impl):
    frames = impl.frame_headers(3, b"abcdefg", 3, True)
    assert frames == (b"\x00\x00\x03\x01\x01\x00\x00\x00\x03abc"
                      b"\x00\x00\x03\x09\x00\x00\x00\x00\x03def"
                      b"\x00\x00\x01\x09\x04\x00\x00\x00\x03g")
    assert impl.frame_headers(5, b"", 16384, False) == b"\x00\x00\x00\x01\x04\x00\x00\x00\x05"


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([16384, 20000, 65535]), st.binary(min_size=0, max_size=200_000),
       st.lists(st.integers(0, 70_000), min_size=1, max_size=6), st.booleans(), st.booleans())
def test_send_data_matches_h2(frame_size, body, cuts, end, zero_copy):
    """Same bytes and state as h2's send_data, copied into h2's buffer or as pieces."""
    ours = server_with_open_stream(frame_size, 1 << 20)
    pieces = [] if zero_copy else None
    ours.ping(b"12345678")  # something h2 queued before the data
    theirs = server_with_open_stream(frame_size, 1 << 20)
    theirs.ping(b"12345678")
    position = 0
    for index, cut in enumerate(cuts):
        size = min(cut, len(body) - position)
        last = end and index == len(cuts) - 1
        h2fast.send_data(ours, 1, body, position, size, last, pieces)
        # h2's own way: one send_data per frame, END_STREAM on the last.
        offset = 0
        while True:
            piece = body[position + offset:position + min(size, offset + frame_size)]
            offset += len(piece)
            theirs.send_data(1, piece, end_stream=last and offset >= size)
            if offset >= size:
                break
        position += size
        if last:
            break
    written = b"".join(pieces) + ours.data_to_send() if zero_copy else ours.data_to_send()
    assert written == theirs.data_to_send()
    assert ours.outbound_flow_control_window == theirs.outbound_flow_control_window
    assert snapshot(ours.streams[1]) == snapshot(theirs.streams[1])


def test_send_data_on_closed_stream_raises_like_h2():
    conn = server_with_open_stream(16384, 65535)
    h2fast.send_data(conn, 1, b"x", 0, 1, True)
    with pytest.raises(ProtocolError):
        h2fast.send_data(conn, 1, b"y", 0, 1, False)
    with pytest.raises(ProtocolError):
        h2fast.send_data(conn, 9, b"y", 0, 1, False)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 140_000), st.integers(0, 140_000), st.integers(0, 1 << 16),
       st.integers(0, 70_000))
def test_send_window_is_h2s_local_flow_control_window(stream_window, grant, sent, stream_grant):
    """Whichever window is smaller (the stream's, from SETTINGS and its WINDOW_UPDATEs,
    or the connection's, 65,535 and its WINDOW_UPDATEs), after data sent, reads the
    same; a stream h2 does not have raises as h2's method does."""
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    settings_frame = SettingsFrame(0)
    settings_frame.settings = {SettingCodes.INITIAL_WINDOW_SIZE: stream_window}
    headers = HeadersFrame(1, flags=["END_HEADERS", "END_STREAM"])
    headers.data = Encoder().encode([(":method", "GET"), (":scheme", "http"),
                                     (":authority", "a"), (":path", "/")])
    conn.receive_data(PREFACE + settings_frame.serialize() + headers.serialize())
    conn.send_headers(1, [(":status", "200")])
    for stream_id, increment in ((0, grant), (1, stream_grant)):
        if increment:
            conn.receive_data(WindowUpdateFrame(stream_id, window_increment=increment).serialize())
    size = min(sent, conn.local_flow_control_window(1))
    if size:
        h2fast.send_data(conn, 1, b"x" * size, 0, size, False)
    assert h2fast.send_window(conn, 1) == conn.local_flow_control_window(1)
    for missing in (3, 2):
        with pytest.raises(Exception) as theirs:
            conn.local_flow_control_window(missing)
        with pytest.raises(type(theirs.value)):
            h2fast.send_window(conn, missing)


# -- request header validation against h2's -----------------------------------------

names = st.sampled_from([b":method", b":scheme", b":authority", b":path", b":status",
                         b":protocol", b":bogus", b"host", b"te", b"connection", b"x-a",
                         b"X-Upper", b"bad name", b"x:colon", b"", b"cookie", b"keep-alive"])
values = st.sampled_from([b"GET", b"CONNECT", b"http", b"/", b"", b"a", b"b", b"trailers",
                          b"gzip", b" pad", b"pad\t", b"nul\x00", b"line\nbreak", b"caf\xc3\xa9"])


def h2_accepts(headers: list, trailers: bool) -> bool:
    flags = HeaderValidationFlags(is_client=False, is_trailer=trailers,
                                  is_response_header=False, is_push_promise=False)
    try:
        list(validate_headers(headers, flags))
    except ProtocolError:
        return False
    return True


def ours_accepts(module, headers: list, trailers: bool) -> bool:
    try:
        module.validate_request_headers(headers, trailers)
    except MalformedHeaders:
        return False
    return True


REQUEST = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"a"), (b":path", b"/")]


@settings(max_examples=600, deadline=None)
@given(st.lists(st.tuples(names, values), max_size=8), st.booleans(), st.booleans())
def test_request_validation_matches_h2(extra, prefix_valid_request, trailers):
    headers = (REQUEST + extra) if prefix_valid_request else extra
    expected = h2_accepts(headers, trailers)
    for module in (m.values[0] for m in IMPLEMENTATIONS if m.values[0] is not None):
        assert ours_accepts(module, headers, trailers) == expected, (module.__name__, headers)


def test_validation_accepts_real_browser_requests(impl):
    chrome = REQUEST + [(b"sec-ch-ua", b'"Chromium";v="131"'), (b"user-agent", b"Mozilla/5.0"),
                        (b"accept", b"text/html,*/*;q=0.8"), (b"accept-encoding", b"gzip, br"),
                        (b"cookie", b"a=1"), (b"cookie", b"b=2"), (b"priority", b"u=0, i"),
                        (b"te", b"trailers")]
    impl.validate_request_headers(chrome)
    connect = [(b":method", b"CONNECT"), (b":authority", b"example.com:443")]
    impl.validate_request_headers(connect)
    extended = [(b":method", b"CONNECT"), (b":protocol", b"websocket"), (b":scheme", b"https"),
                (b":path", b"/chat"), (b":authority", b"example.com")]
    impl.validate_request_headers(extended)


# -- response headers: ours are at least as strict as h2's outbound checks ----------

@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=10), st.text(max_size=15)), max_size=6))
def test_encoded_response_headers_pass_h2_outbound_validation(headers):
    flags = HeaderValidationFlags(is_client=False, is_trailer=False,
                                  is_response_header=True, is_push_promise=False)
    for module in (m.values[0] for m in IMPLEMENTATIONS if m.values[0] is not None):
        try:
            encoded = module.encode_response_headers("200 OK", headers)
        except (TypeError, ValueError):
            continue
        list(validate_outbound_headers(encoded, flags))  # must not raise
    assert _speedups_py.DROPPED_RESPONSE_HEADERS >= {b"connection", b"te"}


@pytest.mark.skipif(IMPLEMENTATIONS[1].values[0] is None, reason="not built")
@settings(max_examples=200, deadline=None)
@given(st.integers(1, 2**31 - 1), st.binary(max_size=3000), st.integers(1, 1000), st.booleans())
def test_differential_frame_headers(stream_id, block, frame_size, end):
    compiled = IMPLEMENTATIONS[1].values[0]
    assert (compiled.frame_headers(stream_id, block, frame_size, end) ==
            _speedups_py.frame_headers(stream_id, block, frame_size, end))


class ClientFrames:
    """A client's frames, one a step ``(kind, stream_id, content, end)``: kind
    "headers" (content: the header list), "data" (content: the size), "window" (the
    increment), "priority" (the stream depended on), "reset" (the error code) or
    "goaway"; one HPACK context for all, as on a real connection."""

    def __init__(self) -> None:
        self.encoder = Encoder()

    def frame(self, step: tuple) -> bytes:
        kind, stream_id, content, end = step
        flags = ["END_STREAM"] if end else []
        if kind == "headers":
            frame = HeadersFrame(stream_id, flags=["END_HEADERS", *flags])
            frame.data = self.encoder.encode(content)
        elif kind == "window":
            frame = WindowUpdateFrame(stream_id, window_increment=content)
        elif kind == "priority":
            frame = PriorityFrame(stream_id, depends_on=content, stream_weight=stream_id * 7 % 256)
        elif kind == "reset":
            frame = RstStreamFrame(stream_id, error_code=content)
        elif kind == "goaway":
            frame = GoAwayFrame(0, last_stream_id=stream_id, error_code=content)
        else:
            frame = DataFrame(stream_id, data=b"d" * content, flags=flags)
        return frame.serialize()


def _client_frames(steps: list) -> bytes:
    """Client bytes: preface, SETTINGS, then a frame per step (see ClientFrames)."""
    client = ClientFrames()
    return PREFACE + SettingsFrame(0).serialize() + b"".join(map(client.frame, steps))


def _server(max_streams: int = 100) -> h2.connection.H2Connection:
    """A server connection configured as the server's own (protocol.py)."""
    conn = h2.connection.H2Connection(_H2_CONFIG)
    conn.local_settings = h2.settings.Settings(
        client=False, initial_values={SettingCodes.MAX_CONCURRENT_STREAMS: max_streams})
    conn.initiate_connection()
    conn.decoder.max_header_list_size = 2000  # so that x-big below is an HPACK bomb
    h2fast.refuse_naked_continuations(conn)
    # (a record no test outgrows: which endings a smaller one forgets first depends on
    # when each side pruned the stream, see forget_closed_streams)
    h2fast.forget_closed_streams(conn, 10_000)
    return conn


def _normalised(events: list) -> dict:
    """Events per stream, consecutive DATA joined, consecutive WindowUpdated summed (and
    dropped before a reset for an overflowed window) and of consecutive PriorityUpdated
    the last: the scanner gathers a stream's frames of one read (and runs of
    WINDOW_UPDATE and PRIORITY frames), which changes how many events there are, never
    what they say."""
    per_stream: dict = {}
    for event in events:
        tokens = per_stream.setdefault(getattr(event, "stream_id", 0), [])
        if type(event) is h2.events.PriorityUpdated:
            if tokens and tokens[-1][0] == "priority":
                tokens.pop()  # a run of signals on a stream: only the last one counts
            tokens.append(("priority", event.depends_on, event.weight, event.exclusive))
        elif type(event) is h2.events.WindowUpdated:
            delta = event.delta
            if tokens and tokens[-1][0] == "window":
                delta += tokens.pop()[1]
            tokens.append(("window", delta))
        elif (type(event) is h2.events.StreamReset and not event.remote_reset
              and event.error_code == ErrorCodes.FLOW_CONTROL_ERROR):
            # A run's increments overflowed the stream's window: h2 reports those of
            # the frames before the one that overflowed it, h2fast (given their sum)
            # only the reset (see h2fast._receive_window_updates).
            if tokens and tokens[-1][0] == "window":
                tokens.pop()
            tokens.append(repr(event))
        elif type(event) is h2.events.DataReceived:
            # h2fast hands over a stream's payloads as a list.
            body = b"".join(event.data) if type(event.data) is list else event.data
            if tokens and tokens[-1][0] == "data":
                _, data, counted = tokens.pop()
                tokens.append(("data", data + body, counted + event.flow_controlled_length))
            else:
                tokens.append(("data", body, event.flow_controlled_length))
        else:
            tokens.append(_described(event))
    return per_stream


def _described(event) -> tuple:
    """An event's repr and every attribute it has (the repr leaves some out, such as a
    RequestReceived's ``stream_ended``), events among them by their own repr."""
    fields = tuple((name, repr(value)) for name, value in vars(event).items())
    return repr(event), type(event).__name__, fields


def _outcome(conn, feed) -> list:
    """Normalised events, or the error class, then h2's state and output."""
    events = []
    result: object = None
    for item in feed:
        try:
            events += (conn.receive_data(item) if type(item) is bytes
                       else h2fast.receive_frame(conn, *item))
        except ProtocolError as exc:
            result = type(exc).__name__  # h2 drops the call's events then
            break
    if result is not None:
        # The connection is dead, its GOAWAY queued. Windows and stream states no longer
        # matter, and when one read breaks the rules twice on two streams, which error
        # is found first may differ (the scanner gathers DATA per stream).
        output = conn.data_to_send()
        goaway = output.rfind(b"\x00\x00\x08\x07\x00\x00\x00\x00\x00")
        return ["connection error", conn.state_machine.state, goaway >= 0]
    streams = {sid: snapshot(s) for sid, s in conn.streams.items() if not s.closed}
    return [_normalised(events), streams, conn.highest_inbound_stream_id,
            conn.state_machine.state, conn.inbound_flow_control_window, _frames_out(conn)]


def _frames_out(conn) -> list:
    """The frames queued, as a multiset: RST_STREAMs for DATA on closed streams come
    grouped by stream, as the scanner gathers DATA, not in wire order."""
    data = conn.data_to_send()
    frames = []
    while data:
        size = 9 + int.from_bytes(data[:3], "big")
        frames.append(data[:size])
        data = data[size:]
    return sorted(frames)


GET = [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"), (b":authority", b"a")]
stream_ids = st.integers(0, 8).map(lambda n: 2 * n + 1) | st.integers(1, 4).map(lambda n: 2 * n)
steps = st.lists(st.one_of(
    st.tuples(st.just("headers"), stream_ids,
              st.sampled_from([GET, GET + [(b"content-length", b"x")],
                               GET + [(b"content-length", b"3")],
                               GET + [(b"x-big", b"v" * 5000)], [(b":status", b"200")]]),
              st.booleans()),
    st.tuples(st.just("data"), stream_ids, st.sampled_from([0, 1, 3, 16384]), st.booleans()),
    st.tuples(st.just("window"), st.just(0) | stream_ids,
              st.sampled_from([1, 100, 2**30, 2**31 - 1]), st.just(False)),
    st.tuples(st.just("priority"), stream_ids, st.integers(0, 17), st.just(False)),
), min_size=1, max_size=14)


@st.composite
def well_formed_steps(draw) -> list:
    """Requests with bodies on a few streams, interleaved frame by frame as clients do,
    sometimes with one bad frame slipped in."""
    queues = []
    for index in range(draw(st.integers(1, 5))):
        stream_id = 2 * index + 1
        headers = draw(st.sampled_from([GET, GET + [(b"content-length", b"3")],
                                        GET + [(b"content-length", b"x")]]))
        sizes = draw(st.lists(st.sampled_from([1, 3, 1000, 16384]), max_size=5))
        queue = [("headers", stream_id, headers, not sizes)]
        queue += [("data", stream_id, size, i == len(sizes) - 1) for i, size in enumerate(sizes)]
        queues.append(queue)
    result = []
    while any(queues):
        result.append(draw(st.sampled_from([q for q in queues if q])).pop(0))
    if draw(st.booleans()):
        bad = draw(st.sampled_from([("data", 1, 5, False), ("data", 4, 5, False),
                                    ("data", 99, 5, True), ("headers", 1, GET, True)]))
        result.insert(draw(st.integers(0, len(result))), bad)
    return result


def _same_as_h2(client_steps: list, max_streams: int) -> None:
    data = _client_frames(client_steps)
    ours = _outcome(_server(max_streams), _speedups_py.FrameScanner().feed(data))
    theirs = _outcome(_server(max_streams), [data])
    assert ours == theirs


@pytest.mark.parametrize("in_place", [True, False])
def test_new_requests_open_as_h2_opens_them(monkeypatch, in_place):
    """A new stream's request, with and without END_STREAM and with a bad content-length,
    by _receive_headers's own steps and no connection step (h2's tables as expected) or
    by h2's own steps (as if a new h2 mapped them elsewhere): the same as h2 either way."""
    monkeypatch.setattr(h2fast, "_FRESH_STEPS_ARE_H2S", in_place)
    monkeypatch.setattr(h2fast, "_QUIET_HEADERS", in_place)
    _same_as_h2([("headers", 1, GET, True), ("headers", 3, GET, False),
                 ("headers", 5, GET + [(b"content-length", b"3")], False)], 100)
    _same_as_h2([("headers", 1, GET + [(b"content-length", b"x")], True)], 100)


@pytest.mark.parametrize("in_place", [True, False])
def test_request_bodies_arrive_as_h2_takes_them(monkeypatch, in_place):
    """Bodies by _receive_data's own steps and no connection step, or by h2's connection
    step (as if a new h2 took one for DATA), each case on a connection of its own: within
    the windows and the content-length; one frame past the declared length; ended short
    of it; past the stream's window (65,535 bytes) in a connection window grown to take
    it: the same as h2 every time (the last three are errors of the connection)."""
    monkeypatch.setattr(h2fast, "_QUIET_DATA", in_place)
    sized = GET + [(b"content-length", b"20")]
    _same_as_h2([("headers", 1, GET, False), ("data", 1, 3, False), ("data", 1, 16384, True),
                 ("headers", 3, sized, False), ("data", 3, 15, False), ("data", 3, 5, True)],
                100)
    _same_as_h2([("headers", 1, sized, False), ("data", 1, 16, False), ("data", 1, 5, False)],
                100)
    _same_as_h2([("headers", 1, sized, False), ("data", 1, 7, True)], 100)
    data = _client_frames([("headers", 1, GET, False)] + [("data", 1, 16384, False)] * 5)
    outcomes = []
    for feed in (_speedups_py.FrameScanner().feed(data), [data]):
        conn = _server()
        conn.increment_flow_control_window(1 << 20)
        conn.data_to_send()
        outcomes.append(_outcome(conn, feed))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == "connection error"  # (h2 ends the connection for it)


def test_a_run_of_window_updates_that_overflows_resets_the_stream_as_h2_does():
    """The scanner sums a run of WINDOW_UPDATEs; a sum past 2^31 - 1 resets the stream
    with FLOW_CONTROL_ERROR, as h2 does at the frame that overflows it."""
    steps = [("headers", 1, GET, False), ("headers", 3, GET, False),
             ("window", 1, 2**30, False), ("window", 3, 5, False), ("window", 1, 2**30, False)]
    _same_as_h2(steps, 100)
    events = _outcome(_server(), _speedups_py.FrameScanner().feed(_client_frames(steps)))[0]
    assert events[1][-1] == "<StreamReset stream_id:1, error_code:3, remote_reset:False>"
    assert events[3][-1] == ("window", 5)


@settings(max_examples=300, deadline=None)
@given(steps, st.sampled_from([3, 100]))
def test_receive_frame_matches_h2(client_steps, max_streams):
    """Same events, errors, stream states, windows and output as h2's receive_data,
    whatever the stream ids (too low, even, closed, unknown), headers (bad
    content-length, HPACK bombs), body sizes (over content-length or the windows) or
    stream limit."""
    _same_as_h2(client_steps, max_streams)


@settings(max_examples=300, deadline=None)
@given(well_formed_steps(), st.sampled_from([3, 100]))
def test_receive_frame_matches_h2_on_interleaved_uploads(client_steps, max_streams):
    """The common case, uploads interleaved frame by frame (joined per stream by the
    scanner), and a bad frame among them."""
    _same_as_h2(client_steps, max_streams)


@pytest.mark.skipif(IMPLEMENTATIONS[1].values[0] is None, reason="not built")
@settings(max_examples=200, deadline=None)
@given(st.integers(1, 2**31 - 1), st.binary(max_size=3000), st.data(), st.integers(1, 1000),
       st.booleans())
def test_data_frames_are_frame_data_in_pieces(stream_id, body, draw, frame_size, end):
    """Both builds' pieces join to exactly frame_data's bytes, payloads as memoryviews."""
    compiled = IMPLEMENTATIONS[1].values[0]
    start = draw.draw(st.integers(0, len(body)))
    length = draw.draw(st.integers(0, len(body) - start))
    expected = _speedups_py.frame_data(stream_id, body, start, length, frame_size, end)
    for module in (_speedups_py, compiled):
        pieces = module.data_frames(stream_id, body, start, length, frame_size, end)
        assert b"".join(pieces) == expected
        assert all(type(piece) is memoryview for piece in pieces[1::2])


# -- whole life cycles: requests in, responses out, resets and GOAWAY between ----------

stream_numbers = st.integers(0, 4).map(lambda n: 2 * n + 1)
life_cycle_steps = st.lists(st.one_of(
    st.tuples(st.just("headers"), stream_numbers,
              st.sampled_from([GET, GET + [(b"content-length", b"7")]]), st.booleans()),
    st.tuples(st.just("data"), stream_numbers, st.sampled_from([0, 7, 20_000]), st.booleans()),
    st.tuples(st.just("window"), st.just(0) | stream_numbers, st.sampled_from([1, 70_000]),
              st.just(False)),
    st.tuples(st.just("reset"), stream_numbers, st.just(8), st.just(False)),  # CANCEL
    st.tuples(st.just("goaway"), st.just(0), st.just(0), st.just(False)),
    st.tuples(st.just("respond"), stream_numbers, st.booleans()),
    st.tuples(st.just("send"), stream_numbers, st.sampled_from([0, 1, 16_385, 100_000]),
              st.booleans()),
    st.tuples(st.just("server reset"), stream_numbers),
    st.tuples(st.just("respond whole"), stream_numbers, st.sampled_from([0, 1, 16_385, 100_000]),
              st.booleans()),
), min_size=1, max_size=24)
SERVER_STEPS = ("respond", "send", "server reset", "respond whole")
RESPONSE_HEAD = [(b":status", b"200"), (b"content-type", b"text/plain")]


def _server_step(conn, step: tuple, fast: bool) -> None:
    """The server's side of a step, by h2fast or by h2's own methods."""
    kind, stream_id = step[0], step[1]
    if kind == "respond":
        if fast:
            h2fast.send_headers(conn, stream_id, RESPONSE_HEAD, step[2])
        else:
            conn.send_headers(stream_id, RESPONSE_HEAD, end_stream=step[2])
    elif kind == "send":
        size = min(step[2], conn.local_flow_control_window(stream_id))
        if fast:
            h2fast.send_data(conn, stream_id, b"r" * size, 0, size, step[3])
        else:
            _h2_send_data(conn, stream_id, size, step[3])
    elif kind == "respond whole":  # headers and the whole body, END_STREAM on its DATA
        size = min(step[2], conn.local_flow_control_window(stream_id))
        if not fast:
            conn.send_headers(stream_id, RESPONSE_HEAD)
            _h2_send_data(conn, stream_id, size, True)
        elif step[3]:  # zero copy: what the caller would write goes back in h2's buffer
            pieces: list = []
            h2fast.send_response(conn, stream_id, RESPONSE_HEAD, b"r" * size, size, pieces)
            conn._data_to_send += b"".join(pieces)
        else:
            h2fast.send_response(conn, stream_id, RESPONSE_HEAD, b"r" * size, size)
    elif fast:  # "server reset"
        h2fast.reset_stream(conn, stream_id, 0)
    else:
        conn.reset_stream(stream_id)


def _h2_send_data(conn, stream_id: int, size: int, end: bool) -> None:
    """h2's way of sending ``size`` bytes: a send_data per frame, END_STREAM on the last."""
    body = b"r" * size
    offset, frame_size = 0, conn.max_outbound_frame_size
    while True:
        piece = body[offset:offset + frame_size]
        offset += len(piece)
        conn.send_data(stream_id, piece, end_stream=end and offset >= size)
        if offset >= size:
            break


def _play(steps: list, fast: bool, max_streams: int):
    """Play ``steps`` on a new server connection, by h2fast or by h2's own methods:
    yields the connection and an outcome for the opening (preface and SETTINGS), then
    for each step, until a connection error."""
    conn = _server(max_streams)
    client = ClientFrames()
    scanner = _speedups_py.FrameScanner()  # (one a connection: it reads the preface first)
    start = PREFACE + SettingsFrame(0).serialize()
    yield conn, _outcome(conn, scanner.feed(start) if fast else [start])
    for step in steps:
        if step[0] in SERVER_STEPS:
            try:
                _server_step(conn, step, fast)
                outcome = [conn.state_machine.state, conn.outbound_flow_control_window,
                           _frames_out(conn)]
            except ProtocolError as exc:  # (StreamClosedError and the like)
                outcome = [type(exc).__name__]
        else:
            data = client.frame(step)
            outcome = _outcome(conn, scanner.feed(data) if fast else [data])
        yield conn, outcome
        if outcome[0] == "connection error":
            return


def _life_cycle_outcome(steps: list, fast: bool, max_streams: int = 100) -> list:
    """After each step: its events (or error), the connection's state, windows and
    frames queued, and every stream it ever had down to each attribute, closed ones
    included (h2 drops closed streams from ``conn.streams`` at times of its own: they
    are kept here)."""
    played = _play(steps, fast, max_streams)
    _, opening = next(played)
    record = [opening]
    seen: dict = {}
    for conn, outcome in played:
        seen.update(conn.streams)
        record.append([outcome, {sid: snapshot(s) for sid, s in seen.items()}])
    return record


def _streams_after(steps: list, fast: bool, max_streams: int) -> tuple:
    """The streams h2 still holds and the closed ones it has pruned, after ``steps``."""
    for conn, _ in _play(steps, fast, max_streams):
        pass
    return sorted(conn.streams), dict(conn._closed_streams), conn.state_machine.state


@pytest.mark.parametrize("endings", [
    ["answered", "answered", "answered"],
    ["reset", "server reset", "answered"],
    ["open", "open", "open"],  # the limit is full of open streams: the next is refused
    ["answered", "open", "open"],
    ["open", "reset", "open"],
])
def test_streams_at_the_limit_are_counted_and_pruned_as_h2_does(endings):
    """Once ``conn.streams`` holds as many streams as the limit, a new stream makes
    h2fast count the open ones and prune the closed ones as h2 does for every new
    stream: the same streams left, the same record of how the pruned ones closed, the
    same refusal when the open ones fill the limit."""
    steps = []
    for number, ending in enumerate(endings):
        stream_id = 2 * number + 1
        steps.append(("headers", stream_id, GET, True))
        if ending == "answered":
            steps.append(("respond", stream_id, True))
        elif ending == "reset":
            steps.append(("reset", stream_id, 8, False))
        elif ending == "server reset":
            steps.append(("server reset", stream_id))
    steps.append(("headers", 2 * len(endings) + 1, GET, True))
    theirs = _streams_after(steps, fast=False, max_streams=3)
    assert _streams_after(steps, fast=True, max_streams=3) == theirs
    assert theirs[1] or theirs[2] is ConnectionState.CLOSED  # (h2 pruned, or refused)


@pytest.mark.parametrize("endings", [
    ["answered", "answered", "answered"],  # each closed by the response's end
    ["answered early", "answered early"],  # closed by the request's end, after the response
    ["answered", "reset", "answered", "open"],
    ["server reset", "answered", "reset again", "open"],
])
def test_closed_streams_are_pruned_when_h2_prunes_them(endings):
    """Well below the stream limit, every stream that closed leaves ``conn.streams`` at
    the next new stream, with its ending recorded, as h2's walk over every stream
    prunes them: those h2fast's send and receive paths closed, and those closed by a
    client's reset, by the server's, or by h2 itself (a second HEADERS on a stream
    whose request ended is answered with a reset)."""
    steps = []
    for number, ending in enumerate(endings):
        stream_id = 2 * number + 1
        if ending == "answered early":
            steps += [("headers", stream_id, GET + [(b"content-length", b"7")], False),
                      ("respond", stream_id, True), ("data", stream_id, 7, True)]
            continue
        steps.append(("headers", stream_id, GET, True))
        if ending == "answered":
            steps.append(("respond", stream_id, True))
        elif ending == "reset":
            steps.append(("reset", stream_id, 8, False))
        elif ending == "server reset":
            steps.append(("server reset", stream_id))
        elif ending == "reset again":
            steps.append(("headers", stream_id, GET, False))
    last = 2 * len(endings) + 1
    steps.append(("headers", last, GET, True))
    fast = _streams_after(steps, fast=True, max_streams=100)
    h2s = _streams_after(steps, fast=False, max_streams=100)
    closed = {2 * n + 1 for n, ending in enumerate(endings) if ending != "open"}
    assert set(h2s[1]) == closed and fast == h2s


@settings(max_examples=400, deadline=None)
@given(life_cycle_steps, st.sampled_from([2, 100]))
def test_whole_life_cycles_match_h2(steps, max_streams):
    """Requests (with and without bodies) in through receive_frame, responses out
    through send_headers and send_data (or send_response, whole), with client and
    server resets, window updates and a GOAWAY anywhere between: after every step the same events or errors, the
    same streams down to every attribute h2 keeps, the same connection state and the
    same frames as h2's own receive_data, send_headers and send_data. At a limit of 2
    streams, h2fast counts (and prunes) the open streams as h2 does, and refuses the
    same streams."""
    assert (_life_cycle_outcome(steps, fast=True, max_streams=max_streams)
            == _life_cycle_outcome(steps, fast=False, max_streams=max_streams))
