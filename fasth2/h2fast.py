"""The fast paths around h2: the one module that reaches into h2's internal state.

Strategy: h2 stays the owner of connection and stream state, but its per-frame Python
objects are too slow for bulk DATA and cost a third of a small response. ``send_data``
frames a whole window's worth of a body in one compiled call, ``send_headers`` encodes
and frames a response's headers in two, and both apply exactly the bookkeeping h2's
own methods would (state machines, flow-control windows, the outgoing buffer). The tests
compare their bytes and h2's resulting state with h2's own methods.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable

from h2.connection import (ConnectionInputs, ConnectionState, H2Connection,
                           H2ConnectionStateMachine, _decode_headers)
from h2.events import PriorityUpdated, RequestReceived, StreamEnded, WindowUpdated
from h2.exceptions import ProtocolError, StreamClosedError
from h2.settings import SettingCodes
from h2.utilities import SizeLimitDict, guard_increment_window
from h2.windows import WindowManager
from h2.stream import H2Stream, H2StreamStateMachine, StreamClosedBy, StreamInputs, StreamState
from h2.stream import _transitions as _STREAM_TRANSITIONS
from hyperframe.frame import (ContinuationFrame, DataFrame, HeadersFrame, RstStreamFrame,
                              WindowUpdateFrame)

from .speedups import (data_frames, declared_content_length, frame_data, frame_headers,
                       informational_response)

DATA = 0x0  # frame types
WINDOW_UPDATE = 0x8
PRIORITY = 0x2
END_STREAM = 0x1  # flag of DATA and HEADERS frames
_CAN_RECEIVE_DATA = (StreamState.OPEN, StreamState.HALF_CLOSED_LOCAL)
_IDLE, _OPEN, _CLOSED = StreamState.IDLE, StreamState.OPEN, StreamState.CLOSED
_SERVER_OPEN, _CONN_CLOSED = ConnectionState.SERVER_OPEN, ConnectionState.CLOSED
_CLOSED_BY_SENDING_END = StreamClosedBy.SEND_END_STREAM
_RECORD = OrderedDict.__setitem__  # (SizeLimitDict's base: see _prune_closed)
_HALF_CLOSED_LOCAL, _HALF_CLOSED_REMOTE = StreamState.HALF_CLOSED_LOCAL, StreamState.HALF_CLOSED_REMOTE
_INITIAL_WINDOW_SIZE = SettingCodes.INITIAL_WINDOW_SIZE
_MAX_CONCURRENT_STREAMS = SettingCodes.MAX_CONCURRENT_STREAMS
_UNLIMITED_STREAMS = 2**32 + 1  # h2's max_concurrent_streams when the setting is unset
_UNSET = (None,)  # a setting h2 has no value for


class Step:
    """One transition of h2's state machines, looked up in h2's own table once.

    ``process_input`` finds its transition by a dict lookup keyed by two enum members,
    and Enum hashes in Python: five stream and three connection inputs a request made
    that a tenth of the loop's time. A Step is h2's entry for one (state, input) pair
    (the target state and h2's own function for it), fetched at import; applied to a
    machine in that state it does what ``process_input`` does, in any other state it
    is ``process_input`` itself. tests/test_h2fast.py compares the machines after
    whole life cycles with h2's.
    """

    __slots__ = ("state", "input", "func", "target")

    def __init__(self, table: dict, state, input_) -> None:
        self.state = state
        self.input = input_
        self.func, self.target = table[(state, input_)]


def _stream_step(state: StreamState, input_: StreamInputs) -> Step:
    return Step(_STREAM_TRANSITIONS, state, input_)


def _connection_step(input_: ConnectionInputs) -> Step:
    # (a server's connection spends its life in SERVER_OPEN)
    return Step(H2ConnectionStateMachine._transitions, ConnectionState.SERVER_OPEN, input_)


_OPEN_REQUEST = _stream_step(StreamState.IDLE, StreamInputs.RECV_HEADERS)
_REQUEST_ENDED = _stream_step(StreamState.OPEN, StreamInputs.RECV_END_STREAM)
_BODY_DATA = _stream_step(StreamState.OPEN, StreamInputs.RECV_DATA)
_RESPONSE_HEADERS = _stream_step(StreamState.HALF_CLOSED_REMOTE, StreamInputs.SEND_HEADERS)
_RESPONSE_DATA = _stream_step(StreamState.HALF_CLOSED_REMOTE, StreamInputs.SEND_DATA)
_RESPONSE_ENDED = _stream_step(StreamState.HALF_CLOSED_REMOTE, StreamInputs.SEND_END_STREAM)
_CONN_RECV_HEADERS = _connection_step(ConnectionInputs.RECV_HEADERS)
_CONN_RECV_DATA = _connection_step(ConnectionInputs.RECV_DATA)
_CONN_SEND_HEADERS = _connection_step(ConnectionInputs.SEND_HEADERS)
_CONN_SEND_DATA = _connection_step(ConnectionInputs.SEND_DATA)
#: True while h2's connection machine neither changes state nor makes an event when an
#: open server connection receives HEADERS (then _receive_headers takes no step).
_QUIET_HEADERS = _CONN_RECV_HEADERS.func is None and _CONN_RECV_HEADERS.target is _SERVER_OPEN
#: The same for DATA (h2 takes no step for it on an open connection either).
_QUIET_DATA = _CONN_RECV_DATA.func is None and _CONN_RECV_DATA.target is _SERVER_OPEN


def advance(machine, step: Step) -> list:
    """``machine.process_input(step.input)`` of an H2StreamStateMachine, by ``step``."""
    previous = machine.state
    if previous is not step.state:
        return machine.process_input(step.input)
    machine.state = step.target
    func = step.func
    if func is None:
        return []
    try:
        return func(machine, previous)
    except ProtocolError:  # (as process_input: a transition that fails closes the stream)
        machine.state = StreamState.CLOSED
        raise
    except AssertionError as err:
        machine.state = StreamState.CLOSED
        raise ProtocolError(err) from err


def advance_connection(machine, step: Step) -> list:
    """``machine.process_input(step.input)`` of h2's connection machine, by ``step``."""
    if machine.state is not step.state:
        return machine.process_input(step.input)
    machine.state = step.target
    return [] if step.func is None else step.func()


def receive_frame(conn: H2Connection, kind: int, stream_id: int, flags: int,
                  payload: bytes | list) -> list:
    """``receive`` with every outcome as h2's events: a new request's as the
    RequestReceived (and StreamEnded) h2 makes of it. (What tests/test_h2fast.py and
    the h2fast fuzz target compare with h2's ``receive_data``.)"""
    events = receive(conn, kind, stream_id, flags, payload)
    return request_events(*events) if type(events) is tuple else events


def receive(conn: H2Connection, kind: int, stream_id: int, flags: int,
            payload: bytes | list) -> list | tuple:
    """h2's events for whole frames as FrameScanner cuts them out: one HEADERS frame
    (``payload`` its header block), a stream's DATA frames of one read (``payload``
    their payloads, ``flags`` the last one's), a run of WINDOW_UPDATEs (``payload``
    the summed increments per stream) or of PRIORITY frames (the last per stream).

    The common cases, DATA on a stream that can receive it and HEADERS opening a new
    client stream within the stream limit, are applied the way h2's ``receive_data``
    would apply them (flow control, HPACK, state machines, the same events and errors)
    without h2's frame buffer, hyperframe objects and per-frame logging (h2 formats a
    hex dump of every DATA frame for a trace message nobody reads). A stream's DATA
    frames are applied as one: one DataReceived whose ``data`` is the list of their
    payloads. Anything else goes to ``receive_data`` itself, frame for frame.

    A new stream's request on the fast path comes back as a tuple, (stream id, header
    list, ended: END_STREAM was on it), not as events: h2's state is then what its
    RequestReceived and StreamEnded would come with, and the server's handler takes the
    three values. The two event objects, their list and their two dispatches cost 5 %
    of an h2c request's instructions. (``receive_frame``: the events.)
    """
    try:
        if kind == DATA:
            events = _receive_data(conn, stream_id, flags, payload)
        elif kind == WINDOW_UPDATE:
            return _receive_window_updates(conn, payload)
        elif kind == PRIORITY:
            return _receive_priorities(conn, payload)
        else:
            events = _receive_headers(conn, stream_id, flags, payload)
    except ProtocolError as exc:  # as receive_data: GOAWAY queued, then raised
        conn._terminate_connection(exc.error_code)
        raise
    if events is None:
        return conn.receive_data(_reframe(kind, stream_id, flags, payload))
    return events


def _receive_window_updates(conn: H2Connection, totals: list) -> list:
    """A run of WINDOW_UPDATE frames, their increments summed per stream (see
    FrameScanner), applied as h2's ``_receive_window_update_frame`` applies each frame:
    one WindowUpdated per stream, the same overflow errors (a stream's reset, or the
    connection's FLOW_CONTROL_ERROR), frames on closed streams ignored and on idle
    ones a connection error. A sum that overflows a stream's window resets the stream
    (as the frame that overflowed it would) without the WindowUpdated h2 reports for the
    frames before that one: the stream ends in the same state, with nothing to send.
    (Windows only grow in a run, so the sum overflows exactly when one frame would.)"""
    events: list = []
    for stream_id, increment in totals:
        events += conn.state_machine.process_input(ConnectionInputs.RECV_WINDOW_UPDATE)
        if not stream_id:
            conn.outbound_flow_control_window = guard_increment_window(
                conn.outbound_flow_control_window, increment)
            events.append(WindowUpdated(stream_id=0, delta=increment))
            continue
        try:
            stream_frames, stream_events = conn._get_stream_by_id(stream_id).receive_window_update(
                increment)
        except StreamClosedError:
            continue
        conn._prepare_for_sending(stream_frames)  # now: a later connection error keeps it
        events += stream_events
    return events


def _receive_priorities(conn: H2Connection, signals: list) -> list:
    """A run of PRIORITY frames, the last per stream (see FrameScanner), applied as h2's
    ``_receive_priority_frame`` applies each: a PriorityUpdated per stream."""
    events: list = []
    for stream_id, depends_on, weight, exclusive in signals:
        events += conn.state_machine.process_input(ConnectionInputs.RECV_PRIORITY)
        event = PriorityUpdated()
        event.stream_id = stream_id
        event.depends_on = depends_on
        event.weight = weight
        event.exclusive = exclusive
        events.append(event)
    return events


def _reframe(kind: int, stream_id: int, flags: int, payload: bytes | list) -> bytes:
    """The frames back as bytes (END_STREAM can only be on the last DATA frame)."""
    pieces = payload if kind == DATA else [payload]
    ids = stream_id.to_bytes(4, "big")
    head = bytes((kind, flags & ~END_STREAM)) + ids
    last = bytes((kind, flags)) + ids
    return b"".join(len(piece).to_bytes(3, "big") + (last if i == len(pieces) - 1 else head)
                    + piece for i, piece in enumerate(pieces))


def _receive_data(conn: H2Connection, stream_id: int, flags: int, payloads: list) -> list | None:
    stream = conn.streams.get(stream_id)
    if stream is None or stream.state_machine.state not in _CAN_RECEIVE_DATA:
        return None  # closed or unknown streams: h2's own answers
    size = sum(map(len, payloads))
    connection_window = conn._inbound_flow_control_window_manager
    stream_window = stream._inbound_window_manager
    expected = stream._expected_content_length
    if (size > connection_window.current_window_size
            or size > stream_window.current_window_size
            or (expected is not None and stream._actual_content_length + size > expected)):
        # Some frame breaks a limit: frame by frame, so that the error is h2's, at the
        # frame h2 would find it. Below, then, no window can go below 0 and no body
        # past its content-length: h2's checks for those are left out.
        return None
    end_stream = bool(flags & END_STREAM)
    state = conn.state_machine.state
    # (the usual connection step is none at all: see _QUIET_DATA)
    events = [] if state is _SERVER_OPEN and _QUIET_DATA \
        else advance_connection(conn.state_machine, _CONN_RECV_DATA)
    connection_window.current_window_size -= size  # (h2's window_consumed)
    # H2Stream.receive_data, step for step, except that the event carries the payloads
    # as they are (a list): joining them would copy every byte of every upload once more.
    machine = stream.state_machine
    stream_events = advance(machine, _BODY_DATA)
    stream_window.current_window_size -= size
    if end_stream and expected is not None:  # (the one check left: a body ended short)
        stream._track_content_length(size, end_stream)
    else:
        stream._actual_content_length += size
    received = stream_events[0]
    if end_stream:
        stream_events += _request_ended(machine, received)
        if machine.state is _CLOSED:  # (the response had ended first)
            _note_closed(conn, stream_id)
    received.data = payloads
    received.flow_controlled_length = size
    return events + stream_events


def _request_ended(machine, received) -> list:
    """END_STREAM on the frame whose event is ``received``: the stream's StreamEnded
    events, the first also hung on ``received`` (as h2 does)."""
    ended = advance(machine, _REQUEST_ENDED)
    received.stream_ended = ended[0]
    return ended


def _open_inbound_streams(conn: H2Connection) -> int:
    """h2's ``open_inbound_streams``: the client's streams that count against the limit,
    closed ones pruned from ``conn.streams`` (into ``conn._closed_streams``) on the way,
    as h2 prunes them; the states read directly, not through the stream's ``open``,
    ``closed`` and ``closed_by`` properties (three Python calls a stream)."""
    count = 0
    pruned = []
    for stream_id, stream in conn.streams.items():
        state = stream.state_machine.state
        if state is _OPEN or state is _HALF_CLOSED_REMOTE or state is _HALF_CLOSED_LOCAL:
            count += stream_id & 1
        elif state is _CLOSED:
            pruned.append(stream_id)
    closed_streams = conn._closed_streams
    for stream_id in pruned:
        closed_streams[stream_id] = conn.streams.pop(stream_id).state_machine.stream_closed_by
    return count


def forget_closed_streams(conn: H2Connection, remembered: int) -> None:
    """Let ``conn`` hold no closed stream longer than h2 itself would, and remember how
    only the last ``remembered`` closed streams ended (h2: 65,536).

    h2 prunes closed streams from ``conn.streams`` when a new one opens, by a walk over
    all of them; h2fast walks only at the stream limit (see ``_receive_headers``), which
    alone would leave a busy connection holding the limit's worth of dead H2Streams. So
    every stream that closes is listed as it closes (by the fast paths, by h2's own
    receive paths: ``_note_closings``, and by the server's resets and ends:
    ``reset_stream``, ``end_stream``) and pruned at the next new stream, as h2 would
    prune it then. The record of
    how closed streams ended (``_closed_streams``) decides the answer to a frame still
    in flight on one (RST_STREAM after a reset, else a connection error); h2 keeps
    65,536 entries, some 8 MB for a connection that served that many streams. RFC 9113
    §5.1 lets an endpoint limit how long it ignores frames on a stream it reset; frames
    in flight can only be on streams the client had open, so a few times the stream
    limit covers them.
    """
    conn._closed_streams = SizeLimitDict(size_limit=remembered)
    conn._fasth2_closed = []  # streams closed since the last new stream
    _note_closings(conn)


def _note_closings(conn: H2Connection) -> None:
    """List the streams h2's own receive paths close too (a client's RST_STREAM, a
    frame h2 answers with a reset, an END_STREAM that ends a stream), so that the next
    new stream prunes them as h2's walk would. Only a transition to closed is listed:
    frames on a stream already closed add nothing. (The server's own resets and ends
    go through ``reset_stream`` and ``end_stream`` here.)"""
    table = conn._frame_dispatch_table
    streams = conn.streams
    for frame_type in (DataFrame, HeadersFrame, RstStreamFrame):
        handler = table[frame_type]

        def noting(frame, handler=handler):
            stream = streams.get(frame.stream_id)
            if stream is None or stream.state_machine.state is _CLOSED:
                return handler(frame)  # (a new stream, or one closed already)
            try:
                return handler(frame)
            finally:
                if stream.state_machine.state is _CLOSED:
                    _note_closed(conn, frame.stream_id)

        table[frame_type] = noting


def reset_stream(conn: H2Connection, stream_id: int, code: int) -> None:
    """h2's ``reset_stream``, the stream then pruned at the next new stream as h2's
    walk would prune it."""
    conn.reset_stream(stream_id, code)
    _note_closed(conn, stream_id)


def end_stream(conn: H2Connection, stream_id: int) -> None:
    """h2's ``end_stream`` (an empty DATA frame with END_STREAM), the stream pruned at
    the next new stream if that closed it."""
    conn.end_stream(stream_id)
    stream = conn.streams.get(stream_id)
    if stream is not None and stream.state_machine.state is _CLOSED:
        _note_closed(conn, stream_id)


def _note_closed(conn: H2Connection, stream_id: int) -> None:
    """A fast path closed the stream: prune it when the next stream opens."""
    try:
        conn._fasth2_closed.append(stream_id)
    except AttributeError:  # (a connection without forget_closed_streams)
        pass


def _prune_closed(conn: H2Connection) -> None:
    """Prune the streams the fast paths closed, as h2's walk would have when this new
    stream opened: in the table's order, each one's ending recorded."""
    closed = conn._fasth2_closed
    closed.sort()
    streams = conn.streams
    record = conn._closed_streams
    for stream_id in closed:
        stream = streams.get(stream_id)
        if stream is not None and stream.state_machine.state is _CLOSED:
            del streams[stream_id]
            # The record's own __setitem__ checks its size limit, two Python calls per
            # stream: here the insertion is the OrderedDict's, and the check once.
            _RECORD(record, stream_id, stream.state_machine.stream_closed_by)
    closed.clear()
    record._check_size_limit()


_new = object.__new__


def new_stream(stream_id: int, config, inbound_window_size: int,
               outbound_window_size: int) -> H2Stream:
    """``H2Stream(stream_id, config, inbound_window_size, outbound_window_size)``, made
    without its three Python constructors (the stream's, its state machine's and its
    window manager's) and the enum lookup of ``StreamState.IDLE`` (~1,000 instructions
    on 3.11): half the time of h2's. Attributes are set in the constructors' order, so
    that the instances share their class's key layout as h2's do (attribute reads as
    fast). tests/test_h2fast.py compares the result with h2's, names and order too, so
    an attribute a new h2 adds fails there."""
    machine = _new(H2StreamStateMachine)
    machine.state = _IDLE
    machine.stream_id = stream_id
    machine.client = None
    machine.headers_sent = None
    machine.trailers_sent = None
    machine.headers_received = None
    machine.trailers_received = None
    machine.stream_closed_by = None
    stream = _new(H2Stream)
    stream.state_machine = machine
    stream.stream_id = stream_id
    stream.max_outbound_frame_size = None
    stream.request_method = None
    stream.outbound_flow_control_window = outbound_window_size
    window = _new(WindowManager)
    window.max_window_size = inbound_window_size  # (h2 asserts it is <= 2**31 - 1: the
    window.current_window_size = inbound_window_size  # settings it came from hold that)
    window._bytes_processed = 0
    stream._inbound_window_manager = window
    stream._expected_content_length = None
    stream._actual_content_length = 0
    stream._authority = None
    stream.config = config
    return stream


def _receive_headers(conn: H2Connection, stream_id: int, flags: int, block: bytes) -> list | None:
    state = conn.state_machine.state
    if stream_id <= conn.highest_inbound_stream_id or not stream_id & 1 or state is _CONN_CLOSED:
        return None
    # h2 counts the open streams (pruning the closed ones) for every new stream; this
    # path only once ``conn.streams`` holds as many as the limit, which keeps it
    # bounded by the limit, and prunes the streams its fast paths closed at every new
    # stream (see forget_closed_streams), which keeps it near the open ones. h2's
    # settings are read from their storage, not through its properties (two Python
    # calls each): a deque per setting whose head is the acknowledged value.
    local = conn.local_settings._settings
    limit = local.get(_MAX_CONCURRENT_STREAMS, _UNSET)[0]
    if limit is None:
        limit = _UNLIMITED_STREAMS
    if len(conn.streams) >= limit and _open_inbound_streams(conn) >= limit:
        return None  # (h2's own path refuses the stream)
    try:
        if conn._fasth2_closed:
            _prune_closed(conn)
    except AttributeError:  # (a connection without forget_closed_streams)
        pass
    headers = _decode_headers(conn.decoder, block)
    # (the usual connection step is none at all: see _QUIET_HEADERS)
    events = [] if state is _SERVER_OPEN and _QUIET_HEADERS \
        else advance_connection(conn.state_machine, _CONN_RECV_HEADERS)
    # h2's _begin_new_stream for a client's stream whose id was checked above.
    config = conn.config
    stream = new_stream(stream_id, config, local[_INITIAL_WINDOW_SIZE][0],
                        conn.remote_settings._settings[_INITIAL_WINDOW_SIZE][0])
    stream.max_outbound_frame_size = conn.max_outbound_frame_size
    conn.streams[stream_id] = stream
    conn.highest_inbound_stream_id = stream_id
    end_stream = bool(flags & END_STREAM)
    # (the configuration's private fields: its public names are Python-level descriptors)
    if (config._header_encoding or config._validate_inbound_headers
            or config._normalize_inbound_headers or informational_response(headers)):
        _, stream_events = stream.receive_headers(headers, end_stream, config.header_encoding)
        return events + stream_events
    # H2Stream.receive_headers for a request, step for step: with inbound headers
    # neither normalised, validated nor decoded (protocol.py's configuration), the
    # pipeline that follows the state changes only makes a list of them.
    machine = stream.state_machine
    if _FRESH_STEPS_ARE_H2S:
        # h2's request_received and stream_half_closed, without the two steps; their
        # events are made below only if the request cannot go as its values.
        machine.client = False
        machine.headers_received = True
        machine.state = _HALF_CLOSED_REMOTE if end_stream else _OPEN
        stream_events = None
    else:
        stream_events = advance(machine, _OPEN_REQUEST)
        if end_stream:
            stream_events += _request_ended(machine, stream_events[0])
        stream_events[0].headers = headers
    try:
        stream._expected_content_length = declared_content_length(headers)
    except ValueError as exc:  # (h2's own check raises ProtocolError, with this message)
        raise ProtocolError(str(exc)) from None
    if stream_events is None:
        if not events:
            return (stream_id, headers, end_stream)
        stream_events = request_events(stream_id, headers, end_stream)
    return events + stream_events


#: True while h2's table maps a new stream's request (and its END_STREAM) to the
#: functions _receive_headers does the work of; else the general path runs.
_FRESH_STEPS_ARE_H2S = (
    _OPEN_REQUEST.func is H2StreamStateMachine.request_received and _OPEN_REQUEST.target is _OPEN
    and _REQUEST_ENDED.func is H2StreamStateMachine.stream_half_closed
    and _REQUEST_ENDED.target is _HALF_CLOSED_REMOTE)


def request_events(stream_id: int, headers: list, ended: bool) -> list:
    """The RequestReceived (and StreamEnded) h2 makes of a new stream's request, made
    without their dataclass constructors (fields set in their order).
    tests/test_h2fast.py compares them, every attribute, with h2's own."""
    received = _new(RequestReceived)
    received.stream_id = stream_id
    received.headers = headers
    received.stream_ended = None
    received.priority_updated = None
    if not ended:
        return [received]
    ended_event = _new(StreamEnded)
    ended_event.stream_id = stream_id
    received.stream_ended = ended_event
    return [received, ended_event]


def send_headers(conn: H2Connection, stream_id: int, headers: list, end_stream: bool) -> None:
    """Queue response headers (or trailers) on a peer-opened stream, as h2's would.

    ``headers`` are byte pairs already validated and normalised (h2's own checks are
    off, see protocol.py). Informational (1xx) responses and unknown streams take h2's
    own path, which also raises its errors.
    """
    stream = conn.streams.get(stream_id)
    if stream is None or (headers and headers[0][1][:1] == b"1" and headers[0][0] == b":status"):
        conn.send_headers(stream_id, headers, end_stream=end_stream)
        return
    advance_connection(conn.state_machine, _CONN_SEND_HEADERS)
    # The state changes before the encoder's, as in h2: encoding alters the HPACK context.
    machine = stream.state_machine
    advance(machine, _RESPONSE_HEADERS)
    block = conn.encoder.encode(headers)
    if end_stream:
        advance(machine, _RESPONSE_ENDED)
        if machine.state is _CLOSED:
            _note_closed(conn, stream_id)
    if machine.trailers_sent and not end_stream:
        raise ProtocolError("Trailers must have END_STREAM set.")
    stream.request_method = None  # what h2 reads from response headers: there is none
    conn._data_to_send += frame_headers(stream_id, block, conn.max_outbound_frame_size,
                                        end_stream)


def send_data(conn: H2Connection, stream_id: int, data: bytes, start: int, length: int,
              end_stream: bool, pieces: list | None = None) -> None:
    """Queue ``data[start:start + length]`` on a stream as DATA frames.

    The caller guarantees ``length <= conn.local_flow_control_window(stream_id)``; frames
    are cut at the peer's max frame size. Raises h2's errors (StreamClosedError,
    ProtocolError) where h2's own ``send_data`` would. With ``pieces`` (a list the
    caller writes with ``transport.writelines``) the frames are appended there as
    headers and memoryviews of ``data``, after whatever h2 had queued: no copy.
    """
    stream = conn.streams.get(stream_id)
    if stream is None:
        conn._get_stream_by_id(stream_id)  # raises h2's StreamClosedError / NoSuchStreamError
    advance_connection(conn.state_machine, _CONN_SEND_DATA)
    machine = stream.state_machine
    advance(machine, _RESPONSE_DATA)
    if end_stream:
        advance(machine, _RESPONSE_ENDED)
        if machine.state is _CLOSED:
            _note_closed(conn, stream_id)
    stream.outbound_flow_control_window -= length
    conn.outbound_flow_control_window -= length
    if pieces is None:
        conn._data_to_send += frame_data(stream_id, data, start, length,
                                         conn.max_outbound_frame_size, end_stream)
        return
    if conn._data_to_send:
        pieces.append(conn.data_to_send())
    pieces.extend(data_frames(stream_id, data, start, length, conn.max_outbound_frame_size,
                              end_stream))


def send_window(conn: H2Connection, stream_id: int) -> int:
    """h2's ``local_flow_control_window(stream_id)``: the body bytes the windows let us
    send now, read directly (h2's goes through a lookup method and ``min()``, which
    with its argument parsing cost 2,000 instructions a response). A stream h2 no
    longer has goes to h2's method, which raises as it always did."""
    stream = conn.streams.get(stream_id)
    if stream is None:
        return conn.local_flow_control_window(stream_id)
    connection_window = conn.outbound_flow_control_window
    stream_window = stream.outbound_flow_control_window
    return connection_window if connection_window < stream_window else stream_window


def send_response(conn: H2Connection, stream_id: int, headers: list, data: bytes,
                  length: int, pieces: list | None = None) -> None:
    """A whole response: ``send_headers(headers)`` and then ``send_data`` of
    ``data[:length]`` with END_STREAM, as those two would queue them, in one call.

    Most responses are this. For a final response on a stream whose request is
    complete (HALF_CLOSED_REMOTE, no headers sent yet) on an open connection, the
    transitions are applied directly: h2's connection machine makes none for sending
    there, and the stream's are SEND_HEADERS (which marks the headers sent), SEND_DATA
    (nothing) and SEND_END_STREAM (closed by it). Any other case is the two calls.
    The caller guarantees ``length <= conn.local_flow_control_window(stream_id)``."""
    stream = conn.streams.get(stream_id)
    machine = None if stream is None else stream.state_machine
    if (machine is None or machine.state is not _HALF_CLOSED_REMOTE or machine.headers_sent
            or machine.client is not False or conn.state_machine.state is not _SERVER_OPEN
            or headers[0][1][:1] == b"1"):
        send_headers(conn, stream_id, headers, False)
        send_data(conn, stream_id, data, 0, length, True, pieces)
        return
    machine.headers_sent = True  # (response_sent, without the event nobody reads)
    block = conn.encoder.encode(headers)
    machine.state = _CLOSED  # (send_end_stream)
    machine.stream_closed_by = _CLOSED_BY_SENDING_END
    _note_closed(conn, stream_id)
    stream.request_method = None
    stream.outbound_flow_control_window -= length
    conn.outbound_flow_control_window -= length
    size = conn.max_outbound_frame_size
    if pieces is None:
        conn._data_to_send += frame_headers(stream_id, block, size, False) \
            + frame_data(stream_id, data, 0, length, size, True)
        return
    pieces.append(conn.data_to_send() + frame_headers(stream_id, block, size, False))
    pieces.extend(data_frames(stream_id, data, 0, length, size, True))


def credit_connection(conn: H2Connection, size: int) -> None:
    """Give ``size`` received bytes back to the connection window at once.

    The connection window paces the client; it bounds nothing of ours (the stream
    windows do, see H2EventHandlers._on_data), so it is credited as DATA arrives, whether or not an
    app reads it. h2's window manager decides when a WINDOW_UPDATE is worth sending.
    """
    increment = conn._inbound_flow_control_window_manager.process_bytes(size)
    if increment:
        conn._prepare_for_sending([WindowUpdateFrame(0, window_increment=increment)])


def credit_stream(conn: H2Connection, stream_id: int, size: int) -> None:
    """Give ``size`` consumed bytes back to one stream's window (if it can still receive)."""
    stream = conn.streams.get(stream_id)
    if stream is not None and stream.state_machine.state in _CAN_RECEIVE_DATA:
        conn._prepare_for_sending(stream.acknowledge_received_data(size))


def grow_stream_window(conn: H2Connection, stream_id: int, size: int) -> None:
    """Raise a stream's receive window to ``size`` (WINDOW_UPDATE by the difference)."""
    stream = conn.streams.get(stream_id)
    if (stream is None or stream.state_machine.state not in _CAN_RECEIVE_DATA
            or conn.state_machine.state is _CONN_CLOSED):
        return
    manager = stream._inbound_window_manager
    increment = size - manager.max_window_size
    if increment > 0:
        conn._prepare_for_sending(stream.increase_flow_control_window(increment))
        manager.max_window_size = size  # h2's threshold for WINDOW_UPDATEs is half of it


def declared_body_length(conn: H2Connection, stream_id: int) -> int | None:
    """The request body's length as its content-length declared it (None: undeclared,
    or the stream is gone)."""
    stream = conn.streams.get(stream_id)
    return None if stream is None else stream._expected_content_length


def refuse_naked_continuations(conn: H2Connection) -> None:
    """Make every CONTINUATION that follows no open header block a connection error
    (RFC 9113 §6.10), on this connection.

    h2's frame buffer joins CONTINUATIONs to their header block and passes on only the
    naked ones, which h2 hands to their stream: on a stream still in its table that is a
    ProtocolError, on one it has pruned a STREAM_CLOSED error (a GOAWAY, or a RST_STREAM
    if the stream was reset), so the answer depended on when h2 last pruned its table,
    which h2fast does not do as h2 does (found by the h2fast fuzz target).
    """
    def refuse(frame):
        raise ProtocolError(f"CONTINUATION without a header block on stream {frame.stream_id}")

    conn._frame_dispatch_table[ContinuationFrame] = refuse


def watch_closed_streams(conn: H2Connection, on_closed: Callable[[], None]) -> None:
    """Call ``on_closed()`` for each DATA or HEADERS frame on a stream already closed.

    h2 answers those itself (RST_STREAM STREAM_CLOSED, or ignores them) without an event;
    the server counts them against the misbehaviour budget. This wraps h2's per-type
    frame dispatch for the two frame types, on this connection only.
    """
    table = conn._frame_dispatch_table
    for frame_type in (DataFrame, HeadersFrame):
        handler = table[frame_type]

        def watched(frame, handler=handler):
            stream_id = frame.stream_id
            if stream_id <= conn.highest_inbound_stream_id:
                stream = conn.streams.get(stream_id)  # h2 drops closed ones lazily
                if stream is None or stream.closed:
                    on_closed()
            return handler(frame)

        table[frame_type] = watched
