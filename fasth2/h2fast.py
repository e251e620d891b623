"""The fast paths around h2: the one module that reaches into h2's internal state.

Strategy: h2 stays the owner of connection and stream state, but its per-frame Python
objects are too slow for bulk DATA. ``send_data`` frames a whole window's worth of a
body in one compiled call and applies exactly the bookkeeping ``H2Connection.send_data``
would (state machines, both flow-control windows, the outgoing buffer). The tests
compare its bytes and h2's resulting state with h2's own ``send_data`` frame for frame.
"""

from __future__ import annotations

from h2.connection import ConnectionInputs, H2Connection
from h2.stream import StreamInputs

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
