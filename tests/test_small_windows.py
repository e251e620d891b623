"""Tiny flow-control windows (RFC 9113 §6.9): a conformant client always makes progress.

A window of one byte gets a one-byte DATA frame, however the window came to be that
small: the initial window, a window made negative by a later SETTINGS (§6.9.2) and
reopened, the last of several INITIAL_WINDOW_SIZE values in one SETTINGS frame (§6.5.3),
a WINDOW_UPDATE on a half-closed (remote) stream. Each test asserts the exact frames.
Dribbling (a window opened a byte at a time, again and again) is the budget's business:
see test_attacks.py.
"""

from __future__ import annotations

from h2.settings import SettingCodes
from hyperframe.frame import DataFrame, HeadersFrame, WindowUpdateFrame

from .helpers import PREFACE, RawClient

HELLO = b"hello world\n"


def next_data(client: RawClient, stream_id: int) -> DataFrame:
    """The next DATA frame on ``stream_id`` (it must come without any timer: 1 s)."""
    frame = client.wait_for(lambda f: isinstance(f, DataFrame) and f.stream_id == stream_id,
                            timeout=1)
    assert frame is not None, "connection closed"
    return frame


def test_initial_window_of_one_byte(server):
    client = RawClient(server.port, settings={SettingCodes.INITIAL_WINDOW_SIZE: 1},
                       auto_window=False)
    client.request(1, "/hello")
    headers = client.wait_for(lambda f: isinstance(f, HeadersFrame))
    assert "END_STREAM" not in headers.flags
    first = next_data(client, 1)
    assert (first.data, "END_STREAM" in first.flags) == (b"h", False)
    client.send(WindowUpdateFrame(1, window_increment=1))
    second = next_data(client, 1)
    assert (second.data, "END_STREAM" in second.flags) == (b"e", False)
    client.send(WindowUpdateFrame(1, window_increment=100))
    rest = next_data(client, 1)
    assert (rest.data, "END_STREAM" in rest.flags) == (HELLO[2:], True)
    client.close()


def test_window_made_negative_by_settings_then_reopened(server):
    client = RawClient(server.port, auto_window=False)
    client.send(WindowUpdateFrame(0, window_increment=2**20))  # the connection is not the limit
    client.request(1, "/big?mib=0.25&whole=1")  # 262,144 bytes in one piece: more than the window
    received = 0
    while received < 65535:
        received += len(next_data(client, 1).data)
    assert received == 65535
    # 65,535 - 100: the stream's window becomes -100 (§6.9.2)...
    client.send(b"\x00\x00\x06\x04\x00\x00\x00\x00\x00" + b"\x00\x04" + (65435).to_bytes(4, "big"))
    client.send(WindowUpdateFrame(1, window_increment=100))  # ...then 0: nothing may be sent
    client.send(WindowUpdateFrame(1, window_increment=1))  # ...then 1
    frame = next_data(client, 1)
    assert len(frame.data) == 1 and "END_STREAM" not in frame.flags
    client.close()


def test_last_of_several_initial_window_sizes_wins(server):
    client = RawClient(server.port, preface=False, auto_window=False)
    entries = b"\x00\x04" + (0).to_bytes(4, "big") + b"\x00\x04" + (1).to_bytes(4, "big")
    client.send(PREFACE + b"\x00\x00\x0c\x04\x00\x00\x00\x00\x00" + entries)
    client.request(1, "/hello")
    frame = next_data(client, 1)
    assert (frame.data, "END_STREAM" in frame.flags) == (b"h", False)
    client.close()


def test_one_byte_window_update_on_a_half_closed_stream(server):
    client = RawClient(server.port, settings={SettingCodes.INITIAL_WINDOW_SIZE: 0},
                       auto_window=False)
    client.request(1, "/hello")  # END_STREAM: the stream is half-closed (remote) for the server
    headers = client.wait_for(lambda f: isinstance(f, HeadersFrame))
    assert "END_STREAM" not in headers.flags
    client.send(WindowUpdateFrame(1, window_increment=1))
    frame = next_data(client, 1)
    assert (frame.data, "END_STREAM" in frame.flags) == (b"h", False)
    client.close()
