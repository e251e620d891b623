"""Stream priorities (RFC 9218, and RFC 7540 mapped onto it) decide who sends next.

The raw client keeps the *connection* window small (it returns window only as it
reads) while stream windows are huge, so the streams compete for the connection and
the order in which their DATA completes shows the scheduler's choices. The app hands
each body over whole, so that no stream ever waits for its app (a stream with nothing
to send rightly lets a less urgent one use the connection).
"""

from __future__ import annotations

import time

import pytest
from h2.errors import ErrorCodes
from h2.settings import SettingCodes
from hyperframe.frame import DataFrame, HeadersFrame, PriorityFrame, SettingsFrame, WindowUpdateFrame

from fasth2.priority import (DEFAULT, PendingUpdates, Priority, from_rfc7540_weight,
                             parse_priority)

from .helpers import RawClient

BIG = 2**31 - 1


def competing_client(server) -> RawClient:
    """A client with unlimited stream windows and a 64 KiB connection window."""
    return RawClient(server.port, settings={SettingCodes.INITIAL_WINDOW_SIZE: BIG},
                     auto_window=False)


def request(client: RawClient, stream_id: int, path: str, priority: str | None = None,
            weight: int | None = None) -> bytes:
    """A request's HEADERS frame, to send together with the others (see ``send_all``)."""
    headers = [(":method", "GET"), (":scheme", "http"), (":authority", "a"), (":path", path)]
    if priority is not None:
        headers.append(("priority", priority))
    frame = client.headers_frame(stream_id, headers)
    if weight is not None:  # RFC 7540 priority fields in HEADERS
        frame.flags.add("PRIORITY")
        frame.stream_weight = weight - 1
        frame.depends_on = 0
    return frame.serialize()


def send_all(client: RawClient, *frames: bytes) -> None:
    """One write, so the server reads the requests together and no app starts late
    (a stream whose app has not answered yet rightly lets others use the connection)."""
    client.send(b"".join(frames))


def priority_update(stream_id: int, value: bytes) -> bytes:
    """A raw PRIORITY_UPDATE frame (type 0x10, on stream 0)."""
    payload = stream_id.to_bytes(4, "big") + value
    return len(payload).to_bytes(3, "big") + b"\x10\x00" + b"\x00\x00\x00\x00" + payload


def read_all(client: RawClient, streams: set[int], on_data=None, timeout: float = 30) -> tuple[list, list]:
    """Read until ``streams`` all ended, returning the window as read.

    Returns (completion order, sequence of stream ids of DATA frames).
    """
    done: list[int] = []
    frames: list[int] = []
    deadline = time.monotonic() + timeout
    while set(done) != streams:
        assert time.monotonic() < deadline, f"only {done} finished"
        frame = client.read_frame(10)
        assert frame is not None, "connection closed"
        if isinstance(frame, DataFrame):
            frames.append(frame.stream_id)
            if frame.flow_controlled_length:
                client.send(WindowUpdateFrame(0, window_increment=frame.flow_controlled_length))
            if on_data is not None:
                on_data(frame, len(frames))
        if isinstance(frame, (DataFrame, HeadersFrame)) and "END_STREAM" in frame.flags:
            done.append(frame.stream_id)
    return done, frames


# -- the signals ----------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    (b"u=0, i", Priority(0, True)), (b"u=5", Priority(5, False)), (b"i", Priority(3, True)),
    (b"i=?0, u=7", Priority(7, False)), (b"u=9", DEFAULT), (b"u=x", DEFAULT),
    (b"u=2;param, foo=bar", Priority(2, False)), (b"\xff\xfe", DEFAULT), (b"", DEFAULT),
])
def test_parse_priority(value, expected):
    assert parse_priority(value) == expected


def test_parse_keeps_base_for_missing_members():
    assert parse_priority(b"i", Priority(1, False)) == Priority(1, True)


@pytest.mark.parametrize("weight, urgency", [(1, 7), (8, 4), (16, 3), (32, 2), (64, 1), (256, 0)])
def test_rfc7540_weight_mapping(weight, urgency):
    assert from_rfc7540_weight(weight) == Priority(urgency, False)


def test_pending_updates_are_bounded():
    table = PendingUpdates(100)
    for stream_id in range(1, 100_000, 2):
        table.put(stream_id, b"u=1")
    assert len(table) == 100
    assert table.take(99_999) == b"u=1" and table.take(1) is None


def test_server_advertises_no_rfc7540_priorities(server):
    client = RawClient(server.port)
    settings = client.wait_for(lambda f: isinstance(f, SettingsFrame) and "ACK" not in f.flags)
    assert settings.settings.get(0x9) == 1
    client.close()


# -- scheduling ----------------------------------------------------------------------

def test_completion_follows_urgency(server):
    client = competing_client(server)
    send_all(client, *(request(client, stream_id, "/big?mib=1&whole=1", f"u={urgency}")
                       for stream_id, urgency in ((1, 5), (3, 1), (5, 3), (7, 0))))
    done, _ = read_all(client, {1, 3, 5, 7})
    assert done == [7, 3, 5, 1]
    client.close()


def test_priority_update_mid_transfer_changes_the_order(server):
    client = competing_client(server)
    send_all(client,
             request(client, 1, "/big?mib=1&whole=1", "u=1"),
             request(client, 3, "/big?mib=1&whole=1", "u=5"))

    def promote(frame, count):
        if count == 4:  # stream 1 is well under way: now stream 3 becomes urgent
            client.send(priority_update(3, b"u=0"))

    done, frames = read_all(client, {1, 3}, promote)
    assert done == [3, 1]
    client.close()


def test_priority_update_before_the_request_applies(server):
    client = competing_client(server)
    send_all(client,
             priority_update(3, b"u=0"),  # stream 3 is not open yet
             request(client, 1, "/big?mib=1&whole=1", "u=2"),
             request(client, 3, "/big?mib=1&whole=1", "u=6"))  # the earlier PRIORITY_UPDATE wins
    done, _ = read_all(client, {1, 3})
    assert done == [3, 1]
    client.close()


def two_equal_streams(server, priority: str) -> tuple[list, int]:
    """Two 1 MiB responses at the same priority: (completion order, stream switches)."""
    client = competing_client(server)
    send_all(client,
             request(client, 1, "/big?mib=1&whole=1", priority),
             request(client, 3, "/big?mib=1&whole=1", priority))
    done, frames = read_all(client, {1, 3})
    client.close()
    return done, sum(1 for a, b in zip(frames, frames[1:]) if a != b)


def test_incremental_streams_interleave(server):
    _, switches = two_equal_streams(server, "u=3, i")
    assert switches > 20, f"only {switches} switches between the two streams"


def test_non_incremental_streams_go_one_after_another(server):
    done, switches = two_equal_streams(server, "u=3")
    assert done == [1, 3]
    assert switches <= 3, f"{switches} switches: the streams interleaved"


def test_application_response_priority_is_honoured_and_passed_on(server):
    client = competing_client(server)
    send_all(client,
             request(client, 1, "/big?mib=1&whole=1&priority=u%3D0", "u=6"),  # the app raises it to u=0
             request(client, 3, "/big?mib=1&whole=1", "u=1"))
    done, _ = read_all(client, {1, 3})
    assert done == [1, 3]
    headers = next(f for f in client.frames if isinstance(f, HeadersFrame) and f.stream_id == 1)
    assert (b"priority", b"u=0") in headers.decoded
    client.close()


@pytest.mark.parametrize("signals, expected", [
    (((None, 1), (None, 256)), [3, 1]),  # weight 1 is u=7, weight 256 is u=0
    ((("u=0", 1), ("u=4", 256)), [1, 3]),  # an RFC 9218 signal beats RFC 7540's
], ids=["weights-mapped", "rfc9218-wins"])
def test_rfc7540_weights(server, signals, expected):
    client = competing_client(server)
    send_all(client, *(request(client, stream_id, "/big?mib=1&whole=1", priority, weight=weight)
                       for stream_id, (priority, weight) in zip((1, 3), signals)))
    done, _ = read_all(client, {1, 3})
    assert done == expected
    client.close()


def test_browser_like_page_load_critical_resources_first(server):
    """Images are requested first (lower stream ids), then the HTML, CSS and scripts."""
    client = competing_client(server)
    images = [1 + 2 * i for i in range(12)]
    critical = {25: "u=0", 27: "u=1", 29: "u=1", 31: "u=2"}  # html, css, css, js
    send_all(client, *(request(client, stream_id, "/big?mib=0.25&whole=1", "u=5, i")
                       for stream_id in images),
             *(request(client, stream_id, "/big?mib=0.5&whole=1", priority)
               for stream_id, priority in critical.items()))
    done, _ = read_all(client, set(images) | set(critical))
    first = done[:len(critical)]
    assert set(first) == set(critical), f"completion order {done}"
    assert first[0] == 25


# -- errors and floods --------------------------------------------------------------

def test_priority_update_on_a_stream_is_protocol_error(server):
    client = RawClient(server.port)
    payload = (1).to_bytes(4, "big") + b"u=1"
    client.send(len(payload).to_bytes(3, "big") + b"\x10\x00" + (1).to_bytes(4, "big") + payload)
    assert client.expect_goaway().error_code == ErrorCodes.PROTOCOL_ERROR


def test_priority_update_for_stream_zero_is_protocol_error(server):
    client = RawClient(server.port)
    client.send(priority_update(0, b"u=1"))
    assert client.expect_goaway().error_code == ErrorCodes.PROTOCOL_ERROR


def test_many_priority_signals_within_budget_are_fine(server):
    client = RawClient(server.port)
    burst = bytearray()
    for i in range(2000):  # 0.1 of a token each: within the budget
        burst += priority_update(1001 + 2 * i, b"u=%d" % (i % 8))
    client.send(bytes(burst))
    client.request(1, "/hello")
    assert client.read_response(1)[1] == b"hello world\n"
    client.close()


def test_priority_flood_is_cut_off_with_memory_bounded(fresh_server):
    server = fresh_server()
    client = RawClient(server.port)
    client.request(1, "/hello")
    client.read_response(1)
    baseline = server.rss_kib()
    flood = bytearray()
    for i in range(20_000):
        flood += priority_update(1001 + 2 * i, b"u=%d, i" % (i % 8))
        flood += PriorityFrame(3 + 2 * (i % 400), depends_on=0, stream_weight=i % 256).serialize()
    client.send(bytes(flood))
    assert client.expect_goaway().error_code == ErrorCodes.ENHANCE_YOUR_CALM
    probe = RawClient(server.port)
    probe.request(1, "/hello")
    assert probe.read_response(1)[1] == b"hello world\n"
    growth_mib = (server.rss_kib() - baseline) / 1024
    assert growth_mib < 10, f"RSS grew {growth_mib:.1f} MiB"
    assert server.log_count("too many PRIORITY") == 1


def test_low_urgency_stream_is_not_starved(server):
    """A slow reader keeps an urgent stream busy for seconds; a u=7 stream still finishes."""
    client = competing_client(server)
    send_all(client,
             request(client, 1, "/big?mib=16&whole=1", "u=0"),
             request(client, 3, "/big?mib=0.0078125&whole=1", "u=7"))  # 8 KiB: one turn's worth

    def slowly(frame, count):
        time.sleep(0.002)  # about 8 MiB/s: stream 1 needs two seconds or more

    done, _ = read_all(client, {1, 3}, slowly)
    assert done == [3, 1]
    client.close()
