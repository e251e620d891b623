"""Make the seed corpus from real traffic: ``python fuzz/record.py`` (rewrites the
``seed-*`` files of fuzz/corpus/; regression inputs, named otherwise, stay).

Real clients (nghttp, h2load, curl, httpx with HTTP/2 and a browser's request headers)
talk to a real fasth2 through a relay that records what each client sent on each
connection. Each recording becomes a seed for every target that parses its kind of
bytes: whole connections (HTTP/2 with prior knowledge, h2c upgrades, HTTP/1.1), the
frames after the preface, the HPACK blocks in them, and the header lists they decode to.
A few crafted attacks (ATTACKS.md: rapid reset, CONTINUATION flood, window and
settings floods) are added, as clients never send those.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import hpack
from hyperframe.frame import (ContinuationFrame, Frame, HeadersFrame, PingFrame,
                              RstStreamFrame, SettingsFrame, WindowUpdateFrame)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fuzz.targets import MAX_INPUT, PREFACE, join  # noqa: E402
from tests.helpers import ServerProcess  # noqa: E402

CORPUS = ROOT / "fuzz" / "corpus"
CHROME = [(":method", "GET"), (":scheme", "http"), (":authority", "localhost"), (":path", "/"),
          ("sec-ch-ua", '"Chromium";v="131", "Not_A Brand";v="24"'),
          ("sec-ch-ua-mobile", "?0"), ("sec-ch-ua-platform", '"Linux"'),
          ("upgrade-insecure-requests", "1"),
          ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like "
                         "Gecko) Chrome/131.0.0.0 Safari/537.36"),
          ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
                     "image/webp,*/*;q=0.8"),
          ("sec-fetch-site", "none"), ("sec-fetch-mode", "navigate"), ("sec-fetch-user", "?1"),
          ("sec-fetch-dest", "document"), ("accept-encoding", "gzip, deflate, br, zstd"),
          ("accept-language", "en-US,en;q=0.9"), ("cookie", "session=abc; theme=dark"),
          ("priority", "u=0, i")]


class Relay:
    """Forwards 127.0.0.1:port to the server's port, keeping each connection's client bytes."""

    def __init__(self, server_port: int) -> None:
        self.server_port = server_port
        self.recordings: list[bytearray] = []
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        threading.Thread(target=self._run, args=(ready,), daemon=True).start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _serve(self, client_reader, client_writer) -> None:
        recording = bytearray()
        self.recordings.append(recording)
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.server_port)

        async def pipe(reader, writer, keep: bytearray | None) -> None:
            try:
                while data := await reader.read(65536):
                    if keep is not None:
                        keep += data
                    writer.write(data)
                    await writer.drain()
            except ConnectionError:
                pass
            finally:
                writer.close()

        await asyncio.gather(pipe(client_reader, server_writer, recording),
                             pipe(server_reader, client_writer, None))


def drive_clients(port: int, upload: Path) -> list[tuple[str, list[str]]]:
    """The client runs: (name, command); each command's connections are recorded."""
    url = f"http://127.0.0.1:{port}"
    return [
        ("nghttp", ["nghttp", "-n", f"{url}/hello"]),
        ("nghttp-upgrade", ["nghttp", "-nu", f"{url}/hello"]),
        ("nghttp-multi", ["nghttp", "-n", "-m", "4", "-H", "x-trace: 42", f"{url}/headers"]),
        ("nghttp-upload", ["nghttp", "-n", "-d", str(upload), f"{url}/echo"]),
        ("h2load", ["h2load", "-n", "30", "-c", "1", "-m", "10", f"{url}/hello"]),
        ("h2load-h1", ["h2load", "--h1", "-n", "5", "-c", "1", f"{url}/hello"]),
        ("curl-h2", ["curl", "-s", "--http2-prior-knowledge", "-A", "curl/8", f"{url}/hello?x=1"]),
        ("curl-upgrade", ["curl", "-s", "--http2", f"{url}/hello"]),
        ("curl-h1", ["curl", "-s", "--http1.1", "-u", "alice:secret", "-e", "http://r/",
                     f"{url}/status?code=404"]),
        ("curl-h1-post", ["curl", "-s", "--http1.1", "-H", "Transfer-Encoding: chunked",
                          "--data-binary", f"@{upload}", f"{url}/echo"]),
        ("curl-h1-keepalive", ["curl", "-s", "--http1.1", f"{url}/hello", f"{url}/environ"]),
        ("httpx-chrome", [sys.executable, "-c",
                          "import httpx, sys; c = httpx.Client(http2=True, http1=False); "
                          f"h = {[(n, v) for n, v in CHROME if not n.startswith(':')]!r}; "
                          f"[c.get('{url}/hello', headers=h) for _ in range(2)]; "
                          f"c.post('{url}/echo', content=b'x' * 3000, headers=h)"]),
    ]


def crafted() -> list[tuple[str, bytes]]:
    """Attack shapes (after the preface) that no real client sends."""
    encoder = hpack.Encoder()
    get = encoder.encode(CHROME[:4])
    rapid = b""
    for stream_id in range(1, 40, 2):
        rapid += HeadersFrame(stream_id, get, flags=["END_HEADERS", "END_STREAM"]).serialize()
        rapid += RstStreamFrame(stream_id, error_code=8).serialize()
    continuation = HeadersFrame(1, get[:5], flags=["END_STREAM"]).serialize()
    continuation += b"".join(ContinuationFrame(1, b"").serialize() for _ in range(50))
    continuation += ContinuationFrame(1, get[5:], flags=["END_HEADERS"]).serialize()
    settings = b"".join(SettingsFrame(0, settings={4: 1, 5: 16384}).serialize() for _ in range(30))
    windows = HeadersFrame(1, get, flags=["END_HEADERS", "END_STREAM"]).serialize()
    windows += b"".join(WindowUpdateFrame(0, window_increment=1).serialize() for _ in range(50))
    windows += WindowUpdateFrame(1, window_increment=0).serialize()
    pings = b"".join(PingFrame(0, opaque_data=b"12345678").serialize() for _ in range(40))
    start = SettingsFrame(0).serialize()
    return [("rapid-reset", start + rapid), ("continuation-flood", start + continuation),
            ("settings-flood", start + settings), ("window-updates", start + windows),
            ("ping-flood", start + pings)]


def frames(stream: bytes) -> list[Frame]:
    """The frames of an HTTP/2 client stream (after its preface), as far as they parse."""
    found, offset = [], 0
    while offset + 9 <= len(stream):
        length = int.from_bytes(stream[offset:offset + 3], "big")
        try:
            frame, _ = Frame.parse_frame_header(memoryview(stream[offset:offset + 9]))
            frame.parse_body(memoryview(stream[offset + 9:offset + 9 + length]))
        except Exception:  # an unknown type, a cut frame: the seeds need no more
            break
        found.append(frame)
        offset += 9 + length
    return found


def seeds_of(name: str, recording: bytes) -> dict[str, list[bytes]]:
    """The seeds one recorded connection gives, per target."""
    out: dict[str, list[bytes]] = {}
    if recording.startswith(PREFACE):
        stream = recording[len(PREFACE):]
        out["connection"] = [join([b"", stream]), join([b"\x07\x01\x40", stream])]
        # (one-byte reads only of short streams: a long one would make every run slow)
        cuts = b"\x01" if len(stream) <= 2048 else b"\x07\x01\x40"
        out["frame-scanner"] = [join([b"", stream]), join([cuts, stream])]
        out["h2fast"] = [join([b"\x00", stream]), join([b"\x01", stream])]
        blocks = [frame.data for frame in frames(stream)
                  if isinstance(frame, (HeadersFrame, ContinuationFrame))]
        if blocks:
            out["hpack"] = [join([b"\x80", *blocks])]
            decoder, lists = hpack.Decoder(1 << 20), []
            try:
                lists = [decoder.decode(block, raw=True) for block in blocks]
            except hpack.HPACKError:
                pass
            for headers in lists[:3]:
                pairs = [part for pair in headers for part in pair]
                out.setdefault("request-headers", []).append(join([b"\x00", *pairs]))
                out.setdefault("environ", []).append(join([b"\x00", *pairs]))
    else:
        out["http1"] = [join([b"", recording]), join([b"\x05", recording])]
        out["connection"] = [join([b"", recording, b"x"])]  # (no preface: HTTP/1.x, upgrades)
    return out


def write(target: str, name: str, data: bytes) -> None:
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(data).hexdigest()[:10]
    (folder / f"seed-{name}-{digest}").write_bytes(data[:MAX_INPUT])


def main() -> None:
    for old in CORPUS.glob("*/seed-*"):
        old.unlink()
    upload = ROOT / "build" / "record-upload.bin"
    upload.parent.mkdir(exist_ok=True)
    upload.write_bytes(os.urandom(5000))
    server = ServerProcess("tests.apps:app")
    try:
        relay = Relay(server.port)
        for name, command in drive_clients(relay.port, upload):
            before = len(relay.recordings)
            subprocess.run(command, capture_output=True, timeout=60, cwd=ROOT)
            asyncio.run_coroutine_threadsafe(asyncio.sleep(0.2), relay.loop).result()
            for index, recording in enumerate(relay.recordings[before:]):
                for target, seeds in seeds_of(name, bytes(recording)).items():
                    for number, seed in enumerate(seeds):
                        write(target, f"{name}-{index}-{number}", seed)
    finally:
        server.stop()
    for name, stream in crafted():
        for target, seeds in seeds_of(name, PREFACE + stream).items():
            for number, seed in enumerate(seeds):
                write(target, f"{name}-{number}", seed)
    for folder in sorted(CORPUS.iterdir()):
        print(f"{folder.name}: {len(list(folder.iterdir()))} inputs")


if __name__ == "__main__":
    main()
