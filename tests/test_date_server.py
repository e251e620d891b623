"""``Date`` (RFC 9110 §6.6.1) and ``Server`` on every response, both protocols, including
the answers fasth2 gives itself; ``--no-server-header`` drops Server only."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import httpx
import pytest

from .helpers import raw_exchange


def assert_fresh_date(value: str) -> None:
    """An IMF-fixdate (``Wed, 02 Dec 2026 18:10:00 GMT``) within a few seconds of now."""
    assert value.endswith(" GMT") and len(value) == 29, value
    assert abs(parsedate_to_datetime(value).timestamp() - time.time()) < 5


@pytest.mark.parametrize("http2", [False, True])
@pytest.mark.parametrize("path, status", [("/hello", 200), ("/nothing-here", 404),
                                          ("/error-before", 500), ("/status?code=204", 204)])
def test_every_response_has_date_and_server(server, http2, path, status):
    with httpx.Client(http1=not http2, http2=http2) as client:
        response = client.get(f"{server.url}{path}")
    assert response.status_code == status
    assert response.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
    assert_fresh_date(response.headers["date"])
    assert response.headers.get_list("server") == ["fasth2"]


def test_fasth2s_own_http1_answers_have_a_date(server):
    answer = raw_exchange(server.port, b"GET / HTTP/1.1\r\n\r\n")  # no Host: 400
    head = answer.split(b"\r\n\r\n")[0].decode()
    assert head.startswith("HTTP/1.1 400 ")
    fields = dict(line.split(": ", 1) for line in head.split("\r\n")[1:])
    assert_fresh_date(fields["date"])


def test_no_server_header_keeps_the_date(fresh_server):
    quiet = fresh_server("tests.apps:app", "--no-server-header")
    for http2 in (False, True):
        with httpx.Client(http1=not http2, http2=http2) as client:
            response = client.get(f"{quiet.url}/hello")
        assert "server" not in response.headers
        assert_fresh_date(response.headers["date"])

