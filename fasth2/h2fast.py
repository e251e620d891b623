"""The fast paths around h2: the one module that reaches into h2's internal state.

Strategy: h2 stays the owner of connection and stream state, but its per-frame Python
objects are too slow for bulk DATA. ``send_data`` frames a whole window's worth of a
body in one compiled call and applies exactly the bookkeeping ``H2Connection.send_data``
would (state machines, both flow-control windows, the outgoing buffer). The tests
compare its bytes and h2's resulting state with h2's own ``send_data`` frame for frame.
"""

from __future__ import annotations

from typing import Callable

from h2.connection import ConnectionInputs, H2Connection
from h2.stream import StreamInputs
from hyperframe.frame import DataFrame, HeadersFrame

from .speedups import frame_data


def send_data(conn: H2Connection, stream_id: int, data: bytes, start: int, length: int,
              end_stream: bool) -> None:
    """Queue ``data[start:start + length]`` on a stream as DATA frames.

    The caller guarantees ``length <= conn.local_flow_control_window(stream_id)``; frames
    are cut at the peer's max frame size. Raises h2's errors (StreamClosedError,
    ProtocolError) where h2's own ``send_data`` would.
    """
    stream = conn.streams.get(stream_id)
    if stream is None:
        conn._get_stream_by_id(stream_id)  # raises h2's StreamClosedError / NoSuchStreamError
    conn.state_machine.process_input(ConnectionInputs.SEND_DATA)
    stream.state_machine.process_input(StreamInputs.SEND_DATA)
    if end_stream:
        stream.state_machine.process_input(StreamInputs.SEND_END_STREAM)
    stream.outbound_flow_control_window -= length
    conn.outbound_flow_control_window -= length
    conn._data_to_send += frame_data(stream_id, data, start, length,
                                     conn.max_outbound_frame_size, end_stream)


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
