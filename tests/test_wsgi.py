"""PEP 3333 gateway behaviour: start_response, write(), iterables, errors, wsgi.input."""

from __future__ import annotations

import json

import httpx
import pytest
from hyperframe.frame import RstStreamFrame

from .helpers import RawClient


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, http1=False, http2=True, timeout=10) as http:
        yield http


def test_write_callable_then_iterable(client):
    assert client.get("/write").content == b"written then returned"


def test_start_response_inside_generator(client):
    response = client.get("/generator")
    assert response.status_code == 200
    assert response.text == "".join(f"part {i}\n" for i in range(5))


def test_exc_info_replaces_unsent_headers(client):
    response = client.get("/exc-info")
    assert response.status_code == 503
    assert response.content == b"replaced"


def test_app_error_before_response_is_500_and_logged_once(client, server):
    response = client.get("/error-before")
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    assert server.log_count("ValueError: boom before the response") == 1
    assert server.log_count("Traceback (most recent call last)") >= 1
    assert client.get("/hello").status_code == 200  # the connection lives on


def test_app_error_mid_body_resets_stream(server):
    raw = RawClient(server.port)
    raw.request(1, "/error-after")
    reset = raw.expect_reset(1)
    assert reset.error_code == 2  # INTERNAL_ERROR
    raw.request(3, "/hello")
    headers, body = raw.read_response(3)
    assert body == b"hello world\n"
    raw.close()
    assert server.log_count("ValueError: boom mid-body") == 1


@pytest.mark.parametrize("path", ["/bad-status", "/bad-header"])
def test_invalid_status_or_headers_give_500(client, server, path):
    response = client.get(path)
    assert response.status_code == 500
    assert "Injected" not in response.headers


def test_head_sends_no_body(client):
    response = client.head("/hello")
    assert response.status_code == 200
    assert response.headers["content-length"] == "12"
    assert response.content == b""


BODY = b"first line\nsecond\n\nlast without newline"


@pytest.mark.parametrize("mode", ["readline", "readlines", "iter", "read7"])
def test_wsgi_input_line_reading(client, mode):
    response = client.post(f"/lines?mode={mode}", content=BODY)
    got = json.loads(response.text)
    if mode == "read7":
        assert "".join(got) == BODY.decode()
        assert all(len(piece) == 7 for piece in got[:-1])
    else:
        assert got == ["first line\n", "second\n", "\n", "last without newline"]


def test_wsgi_input_streams_a_chunked_upload(client):
    """The body arrives as a stream without Content-Length; read() returns all of it."""
    def chunks():
        for i in range(50):
            yield bytes([i]) * 10_000
    response = client.post("/echo", content=chunks())
    assert response.content == b"".join(bytes([i]) * 10_000 for i in range(50))


def test_not_found(client):
    assert client.get("/no/such/route").status_code == 404


def test_iterable_close_called_on_normal_completion(client, server):
    response = client.get("/tracked?name=complete&chunks=3&delay=0")
    assert len(response.content) == 3 * 64 * 1024
    assert server.wait_for_event("closed complete")


def test_iterable_close_called_when_client_resets(server):
    raw = RawClient(server.port, auto_window=False)
    raw.request(1, "/tracked?name=blocked&chunks=100&delay=0")
    raw.wait_for(lambda f: getattr(f, "stream_id", 0) == 1 and f.type == 0x0)
    # The app is now blocked on a full stream buffer; the reset must still free it.
    raw.send(RstStreamFrame(1, error_code=8))
    assert server.wait_for_event("closed blocked")
    raw.close()
