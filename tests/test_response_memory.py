"""The response-memory budget, crossed: per connection, then for the whole process.

Clients that hold their windows shut keep what the app produced in the server's memory.
Past a connection's budget its new streams wait (no app call starts) until it reads;
past the process's budget, the connections holding the most without reading are shed
with GOAWAY ENHANCE_YOUR_CALM, and everyone else is still served.
"""

from __future__ import annotations

import time

from h2.errors import ErrorCodes
from h2.settings import SettingCodes
from hyperframe.frame import GoAwayFrame, SettingsFrame, WindowUpdateFrame

from .helpers import RawClient

KIB = 1024
MIB = 1024 * KIB


def blob_calls(server) -> int:
    return sum(line.startswith("blob") for line in server.events())


def test_connection_budget_holds_new_app_calls_until_the_client_reads(fresh_server):
    server = fresh_server("tests.apps:app", "--response-memory-per-connection", str(1 * MIB))
    client = RawClient(server.port, settings={SettingCodes.INITIAL_WINDOW_SIZE: 0})
    for index in range(20):
        client.request(1 + 2 * index, f"/blob?kib=512&name={index}")
    time.sleep(1.0)
    # Calls start while under 1 MiB; the calls already running (up to the connection's
    # thread share, 4) may finish: 2 + 4 at the most, however many streams wait.
    started = blob_calls(server)
    assert 2 <= started <= 6, started
    time.sleep(0.5)
    assert blob_calls(server) == started  # nothing more starts while nothing is read
    settings = SettingsFrame(0)
    settings.settings = {SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1}
    client.send(settings.serialize() + WindowUpdateFrame(0, window_increment=2**31 - 1 - 65535).serialize())
    for index in range(20):
        headers, body = client.read_response(1 + 2 * index, timeout=20)
        assert headers[":status"] == "200" and len(body) == 512 * KIB
    assert blob_calls(server) == 20
    client.close()


def test_process_budget_sheds_the_clients_that_do_not_read(fresh_server):
    server = fresh_server("tests.apps:app", "--response-memory", str(2 * MIB),
                          "--response-memory-per-connection", str(1 * MIB))
    hoarders = [RawClient(server.port, settings={SettingCodes.INITIAL_WINDOW_SIZE: 0},
                          auto_window=False) for _ in range(4)]
    for hoarder in hoarders:
        for index in range(10):
            hoarder.request(1 + 2 * index, "/blob?kib=512")
    # Over 2 MiB together, nothing sent for a second: the largest are shed until under.
    codes = []
    for hoarder in hoarders:
        try:
            frame = hoarder.wait_for(lambda f: isinstance(f, GoAwayFrame), timeout=5)
        except TimeoutError:
            continue
        if frame is not None:
            codes.append(frame.error_code)
    assert codes and set(codes) == {ErrorCodes.ENHANCE_YOUR_CALM}, codes
    assert server.log_count("of responses it does not read (ENHANCE_YOUR_CALM)") == len(codes)
    # Someone who reads is served meanwhile, big responses included.
    reader = RawClient(server.port)
    reader.request(1, "/blob?kib=1024")
    headers, body = reader.read_response(1, timeout=10)
    assert headers[":status"] == "200" and len(body) == MIB
    for client in hoarders + [reader]:
        client.close()
