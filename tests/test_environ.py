"""Every PEP 3333 environ key, for a table of real requests sent with the raw client."""

from __future__ import annotations

import json

import pytest
from hyperframe.frame import DataFrame

from .helpers import RawClient

ABSENT = object()

# (id, extra request headers, :path, :method, :authority, body, expected environ subset)
CASES = [
    ("simple-get", [], "/environ", "GET", "example.com", b"", {
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/environ",
        "QUERY_STRING": "", "SERVER_NAME": "example.com", "SERVER_PORT": "80",
        "HTTP_HOST": "example.com", "CONTENT_TYPE": ABSENT, "CONTENT_LENGTH": ABSENT,
    }),
    ("query-and-port", [], "/environ?a=1&b=%20x", "GET", "example.com:8443", b"", {
        "PATH_INFO": "/environ", "QUERY_STRING": "a=1&b=%20x",
        "SERVER_NAME": "example.com", "SERVER_PORT": "8443", "HTTP_HOST": "example.com:8443",
    }),
    ("ipv6-authority", [], "/environ", "GET", "[::1]:9000", b"", {
        "SERVER_NAME": "::1", "SERVER_PORT": "9000", "HTTP_HOST": "[::1]:9000",
    }),
    ("percent-decoded-latin1-path", [], "/environ/caf%C3%A9%2Fx?q=%C3%A9", "GET", "h", b"", {
        # PEP 3333: PATH_INFO is the decoded bytes as latin-1; the query stays raw.
        "PATH_INFO": "/environ/caf\xc3\xa9/x", "QUERY_STRING": "q=%C3%A9",
    }),
    ("post-with-body", [("content-type", "application/json"), ("content-length", "13")],
     "/environ", "POST", "h", b'{"a": "body"}', {
         "REQUEST_METHOD": "POST", "CONTENT_TYPE": "application/json",
         "CONTENT_LENGTH": "13", "HTTP_CONTENT_TYPE": ABSENT, "HTTP_CONTENT_LENGTH": ABSENT,
         "body": '{"a": "body"}',
     }),
    ("repeated-headers-and-cookie-crumbs",
     [("x-tag", "1.1.1.1"), ("cookie", "a=1"), ("x-tag", "2.2.2.2"),
      ("cookie", "b=2"), ("accept-language", "en"), ("x_smuggled", "no")],
     "/environ", "GET", "h", b"", {
         "HTTP_X_TAG": "1.1.1.1, 2.2.2.2", "HTTP_COOKIE": "a=1; b=2",
         "HTTP_ACCEPT_LANGUAGE": "en", "HTTP_X_SMUGGLED": ABSENT,
     }),
    ("latin1-header-value", [("x-name", b"Andr\xe9")], "/environ", "PUT", "h", b"", {
        "REQUEST_METHOD": "PUT", "HTTP_X_NAME": "Andr\xe9",
    }),
    ("host-header-without-authority", [("host", "fallback.example:81")], "/environ",
     "DELETE", None, b"", {
         "REQUEST_METHOD": "DELETE", "HTTP_HOST": "fallback.example:81",
         "SERVER_NAME": "fallback.example", "SERVER_PORT": "81",
     }),
]

# The same on every request of this server.
CONSTANT = {
    "SERVER_PROTOCOL": "HTTP/2", "wsgi.version": [1, 0], "wsgi.url_scheme": "http",
    "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
    "wsgi.input_terminated": True, "REMOTE_ADDR": "127.0.0.1",
    "wsgi.errors.has_write": True,
}


@pytest.mark.parametrize("name, extra, path, method, authority, body, expected", CASES,
                         ids=[case[0] for case in CASES])
def test_environ_keys(server, name, extra, path, method, authority, body, expected):
    raw = RawClient(server.port)
    headers = [(":method", method), (":scheme", "http"), (":path", path)]
    if authority is not None:
        headers.append((":authority", authority))
    raw.send(raw.headers_frame(1, headers + extra, end_stream=not body))
    if body:
        raw.send(DataFrame(1, data=body, flags=["END_STREAM"]))
    status_headers, payload = raw.read_response(1)
    raw.close()
    assert status_headers[":status"] == "200"
    environ = json.loads(payload)
    for key, value in {**CONSTANT, **expected}.items():
        if value is ABSENT:
            assert key not in environ, f"{key} should be absent"
        else:
            assert environ.get(key) == value, f"{key}: {environ.get(key)!r} != {value!r}"
    assert environ["REMOTE_PORT"].isdigit() and int(environ["REMOTE_PORT"]) > 0
    assert environ["wsgi.input.type"] == ("RequestBody" if body else "EmptyBody")
    assert all(type(k) is str for k in environ)
