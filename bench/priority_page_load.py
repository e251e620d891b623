"""A browser-like page load over one connection, with and without priority signals.

Run: python bench/priority_page_load.py [--window 65535]
Twelve 256 KiB images are requested first, then the HTML (512 KiB), two stylesheets and
a script: the order a page's parser would discover them in the worst case. The client
returns connection window only as it reads (``--window`` bytes in flight), so the
server's scheduler decides who gets the bandwidth. Prints when each resource completed
(ms after the requests went out), once with RFC 9218 priority headers (HTML u=0, CSS
u=1, script u=2, images u=5 incremental) and once with none.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from h2.settings import SettingCodes  # noqa: E402
from hyperframe.frame import DataFrame, HeadersFrame, WindowUpdateFrame  # noqa: E402

from tests.helpers import RawClient, ServerProcess  # noqa: E402

IMAGES = [(1 + 2 * i, f"img{i}", "/big?mib=0.25&whole=1", "u=5, i") for i in range(12)]
CRITICAL = [(25, "html", "/big?mib=0.5&whole=1", "u=0"), (27, "css1", "/big?mib=0.25&whole=1", "u=1"),
            (29, "css2", "/big?mib=0.25&whole=1", "u=1"), (31, "js", "/big?mib=0.25&whole=1", "u=2")]


def load(port: int, with_priorities: bool, window: int) -> list[tuple[str, float]]:
    client = RawClient(port, settings={SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1}, auto_window=False)
    if window > 65535:
        client.send(WindowUpdateFrame(0, window_increment=window - 65535))
    names = {}
    started = time.monotonic()
    for stream_id, name, path, priority in IMAGES + CRITICAL:
        headers = [(":method", "GET"), (":scheme", "http"), (":authority", "a"), (":path", path)]
        if with_priorities:
            headers.append(("priority", priority))
        client.send(client.headers_frame(stream_id, headers))
        names[stream_id] = name
    finished = []
    while len(finished) < len(names):
        frame = client.read_frame(30)
        if isinstance(frame, DataFrame) and frame.flow_controlled_length:
            client.send(WindowUpdateFrame(0, window_increment=frame.flow_controlled_length))
        if isinstance(frame, (DataFrame, HeadersFrame)) and "END_STREAM" in frame.flags:
            finished.append((names[frame.stream_id], (time.monotonic() - started) * 1000))
    client.close()
    return finished


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--window", type=int, default=65535, help="connection window in flight")
    args = parser.parse_args()
    server = ServerProcess("tests.apps:app")
    try:
        for with_priorities in (True, False):
            order = load(server.port, with_priorities, args.window)
            label = "with priorities" if with_priorities else "without priorities"
            critical_done = max(ms for name, ms in order if not name.startswith("img"))
            print(f"{label}: critical resources done at {critical_done:.1f} ms; order:")
            print("  " + ", ".join(f"{name} {ms:.1f}" for name, ms in order))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
