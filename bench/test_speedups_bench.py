"""Micro-benchmarks of each compiled hot path against its pure-Python twin.

Run: python -m pytest bench/test_speedups_bench.py
Inputs are realistic: the request headers current Chrome and Firefox send, a Flask-like
response header list, 1 MiB bodies framed at 16 KiB, a read holding 100 requests.
"""

from __future__ import annotations

from hpack import Encoder
from hyperframe.frame import HeadersFrame, WindowUpdateFrame

CHROME = [
    (b":method", b"GET"), (b":authority", b"shop.example.com"), (b":scheme", b"https"),
    (b":path", b"/products/42?ref=home&utm_source=newsletter"),
    (b"sec-ch-ua", b'"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"'),
    (b"sec-ch-ua-mobile", b"?0"), (b"sec-ch-ua-platform", b'"Linux"'),
    (b"upgrade-insecure-requests", b"1"),
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                    b"Chrome/131.0.0.0 Safari/537.36"),
    (b"accept", b"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
                b"image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"),
    (b"sec-fetch-site", b"same-origin"), (b"sec-fetch-mode", b"navigate"),
    (b"sec-fetch-user", b"?1"), (b"sec-fetch-dest", b"document"),
    (b"referer", b"https://shop.example.com/"),
    (b"accept-encoding", b"gzip, deflate, br, zstd"), (b"accept-language", b"en-GB,en;q=0.9"),
    (b"cookie", b"session=8f14e45fceea167a5a36dedd4bea2543"), (b"cookie", b"theme=dark"),
    (b"cookie", b"_ga=GA1.1.123456789.1700000000"), (b"priority", b"u=0, i"),
]
FIREFOX = [
    (b":method", b"POST"), (b":path", b"/api/cart"), (b":authority", b"shop.example.com"),
    (b":scheme", b"https"),
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"),
    (b"accept", b"application/json"), (b"accept-language", b"en-US,en;q=0.5"),
    (b"accept-encoding", b"gzip, deflate, br, zstd"), (b"content-type", b"application/json"),
    (b"content-length", b"48"), (b"origin", b"https://shop.example.com"),
    (b"sec-fetch-dest", b"empty"), (b"sec-fetch-mode", b"cors"), (b"sec-fetch-site", b"same-origin"),
    (b"cookie", b"session=8f14e45fceea167a5a36dedd4bea2543; theme=dark"), (b"te", b"trailers"),
]
BASE = {"wsgi.url_scheme": "https", "SERVER_NAME": "0.0.0.0", "SERVER_PORT": "443",
        "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "50000", "QUERY_STRING": "", "PATH_INFO": ""}
RESPONSE = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", "5120"),
            ("Vary", "Cookie"), ("Set-Cookie", "session=8f14e45f; HttpOnly; Path=/; SameSite=Lax"),
            ("Cache-Control", "private, max-age=0"), ("X-Frame-Options", "SAMEORIGIN"),
            ("Connection", "keep-alive")]
MIB = b"\xa5" * (1024 * 1024)


def _read_with_requests(count: int) -> bytes:
    encoder = Encoder()
    frames = b""
    for i in range(count):
        frame = HeadersFrame(2 * i + 1, flags=["END_HEADERS", "END_STREAM"])
        frame.data = encoder.encode(CHROME)
        frames += frame.serialize() + WindowUpdateFrame(0, window_increment=100).serialize()
    return frames


READ = _read_with_requests(100)


def test_build_environ_chrome(benchmark, impl):
    benchmark.group = "build_environ (Chrome GET)"
    benchmark(impl.build_environ, CHROME, BASE)


def test_build_environ_firefox(benchmark, impl):
    benchmark.group = "build_environ (Firefox POST)"
    benchmark(impl.build_environ, FIREFOX, BASE)


def test_validate_request_headers_chrome(benchmark, impl):
    benchmark.group = "validate_request_headers (Chrome)"
    benchmark(impl.validate_request_headers, CHROME)


def test_encode_response_headers(benchmark, impl):
    benchmark.group = "encode_response_headers (7)"
    benchmark(impl.encode_response_headers, "200 OK", RESPONSE)


def test_frame_data_one_mib(benchmark, impl):
    benchmark.group = "frame_data (1 MiB, 16 KiB frames)"
    benchmark(impl.frame_data, 1, MIB, 0, len(MIB), 16384, True)


def test_frame_scanner_hundred_requests(benchmark, impl):
    benchmark.group = "FrameScanner (100 HEADERS read)"
    benchmark(lambda: impl.FrameScanner(0).feed(READ))


def _header_blocks() -> tuple[bytes, bytes]:
    """Chrome's request headers as a connection's first header block (literals, Huffman)
    and as the next one (all indexed)."""
    encoder = Encoder()
    return encoder.encode(CHROME), encoder.encode(CHROME)


FIRST_BLOCK, NEXT_BLOCK = _header_blocks()
RESPONSE_PAIRS = [(b":status", b"200")] + [(n.lower().encode(), v.encode()) for n, v in RESPONSE[:-1]]


def test_hpack_decode_first_request(benchmark, impl):
    benchmark.group = "HPACK decode (Chrome, first request)"
    benchmark(lambda: impl.HpackDecoder().decode(FIRST_BLOCK, raw=True))


def test_hpack_decode_next_request(benchmark, impl):
    benchmark.group = "HPACK decode (Chrome, indexed)"
    decoder = impl.HpackDecoder()
    decoder.decode(FIRST_BLOCK, raw=True)
    benchmark(decoder.decode, NEXT_BLOCK, True)


def test_hpack_encode_response(benchmark, impl):
    benchmark.group = "HPACK encode (7 response headers, warm)"
    encoder = impl.HpackEncoder()
    encoder.encode(RESPONSE_PAIRS)
    benchmark(encoder.encode, RESPONSE_PAIRS)


def test_data_frames_one_mib(benchmark, impl):
    benchmark.group = "data_frames (1 MiB, 16 KiB frames, views)"
    benchmark(impl.data_frames, 1, MIB, 0, len(MIB), 16384, True)
