"""The PEP 3333 gateway: the per-connection environ and running an app for one request.

Strategy: everything here runs on an app thread of the pool, never on the loop. The
environ is a plain ``dict`` built by the (compiled) ``build_environ`` from h2's header
list and a per-connection base (gateway.py). The response reaches the loop through a
``ThreadHandOff`` (handoff.py): a list or tuple body (the common case) goes over in one
hand-off with its headers and the end; any other iterable goes chunk by chunk, the
app's thread pausing while the exchange's buffer is full.

This module is also compiled as it is, as ``fasth2._wsgi_c``, where Response is an
extension type with the fields _wsgi_c.pxd declares (an attribute added here must be
declared there); twins.py picks the build's ``run_app``.
"""

from __future__ import annotations

import logging
import sys
from typing import Callable

from h2.errors import ErrorCodes

from ._version import VERSION
from .errors import StreamAborted
from .files import FileWrapper
from .speedups import declared_content_length, encode_response_headers
from .tls import client_certificate_environ

log = logging.getLogger("fasth2.error")

SERVER_SOFTWARE = f"fasth2/{VERSION}"

_SERVER_ERROR_HEADERS = encode_response_headers(
    "500 Internal Server Error",
    [("content-type", "text/plain; charset=utf-8"), ("content-length", "21")],
)
_SERVER_ERROR_BODY = b"Internal Server Error"
# "OPTIONS *" asks about the server, not a resource (RFC 9110 §9.3.7), and its target
# fits no PEP 3333 PATH_INFO: the server answers it, listing the methods it passes on.
_OPTIONS_ANSWER = encode_response_headers("200 OK", [
    ("allow", "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS"), ("content-length", "0")])
# "*" is a target for OPTIONS alone (RFC 9112 §3.2.4).
_ASTERISK_REFUSED_BODY = b"Bad Request: '*' is a target for OPTIONS only\n"
_ASTERISK_REFUSED = encode_response_headers("400 Bad Request", [
    ("content-type", "text/plain"), ("content-length", str(len(_ASTERISK_REFUSED_BODY)))])


#: The environ keys the gateway sets for each request, whatever the request.
_PER_REQUEST_KEYS = ("wsgi.input", "fasth2.request_trailers", "wsgi.early_hints",
                     "fasth2.send_trailers", "gunicorn.http2.send_trailers")


def base_environ(connection, multiprocess: bool = False) -> dict:
    """The environ keys that are the same for every request on one connection
    (``connection``: its exchange.ConnectionInfo)."""
    tls = connection.tls
    environ = {
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "https" if tls else "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": multiprocess,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
        "wsgi.file_wrapper": FileWrapper,
        "SERVER_SOFTWARE": SERVER_SOFTWARE,
        "SERVER_PROTOCOL": "HTTP/2",
        "SERVER_NAME": connection.server,
        "SERVER_PORT": connection.server_port,
        "REMOTE_ADDR": connection.client,
        "REMOTE_PORT": connection.client_port,
        "SCRIPT_NAME": "",
        "PATH_INFO": "",
        "QUERY_STRING": "",
        # Set for every request (gateway.run, run_app); here only so that the base holds
        # more keys than a dict of 21 can, and each request's copy has room for its
        # HTTP_* keys without growing (a dict grows by rebuilding its whole table).
        **dict.fromkeys(_PER_REQUEST_KEYS),
    }
    if tls:
        environ.update(client_certificate_environ(connection.ssl_object))
    return environ


def _allowed_body_length(headers: list) -> int | None:
    """The body length a final response head (encoded, ``:status`` first) allows: its
    Content-Length, 0 for 204 and 304, None if neither (the body is not counted).
    ValueError for a Content-Length that is not digits, or two that disagree (the app's
    error: a 500 while nothing has gone out)."""
    if headers[0][1] in (b"204", b"304"):
        return 0
    return declared_content_length(headers)


def _encode_fields(headers: list) -> list:
    """Checked and encoded as a final response's headers are, without ``:status`` (the
    encoder takes no 1xx status, and trailers have none)."""
    return encode_response_headers("200 OK", headers)[1:]


class Response:
    """The response side of one WSGI call: ``start_response``, ``write`` and the body."""

    __slots__ = ("stream", "headers", "headers_sent", "head", "trailers", "ended", "owed")

    def __init__(self, stream, head: bool) -> None:
        self.stream = stream  # the exchange's ThreadHandOff
        self.headers: list | None = None  # encoded by start_response, not yet sent
        self.headers_sent = False
        self.head = head  # a HEAD request: send headers only
        self.trailers: list | None = None  # set by send_trailers, sent after the body
        self.ended = False  # the last piece went out
        #: Body bytes the head's Content-Length still allows (None: not counted; -1:
        #: the app ran past it, which was logged, and the rest of its body is dropped).
        self.owed: int | None = None

    def start_response(self, status: str, headers: list, exc_info=None) -> Callable:
        """PEP 3333 ``start_response``: validate and remember the status and headers."""
        if exc_info is not None:
            try:
                if self.headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # break the traceback's reference cycle
        elif self.headers is not None:
            raise RuntimeError("start_response() was already called (pass exc_info to replace)")
        self.headers = encode_response_headers(status, headers)
        # The legacy write callable: the response itself (its __call__), not a bound
        # method made for each request when few apps ever call it.
        return self

    def early_hints(self, headers: list) -> None:
        """``wsgi.early_hints``: send a 103 Early Hints response with ``headers`` (e.g.
        ``[("Link", "</app.css>; rel=preload; as=style")]``) ahead of the final
        response; any number of times until the response's headers have gone out."""
        if self.headers_sent:
            raise RuntimeError("early hints after the response began")
        self.stream.inform([(b":status", b"103"), *_encode_fields(headers)])

    def send_trailers(self, headers: list) -> None:
        """``fasth2.send_trailers`` (also ``gunicorn.http2.send_trailers``): trailer
        fields to send after the body, e.g. ``[("grpc-status", "0")]``. Call it before
        the body iterable is exhausted (from a generator, after its last chunk); HTTP/1.1
        sends them only to a client that said ``TE: trailers``."""
        if self.ended:
            raise RuntimeError("trailers after the response ended")
        self.trailers = _encode_fields(headers)

    def _finish(self, headers: list | None, body: bytes) -> None:
        """The last piece of the response, with the trailers if the app set some."""
        self.ended = True
        owed = self.owed
        if owed is not None and len(body) != owed:
            if len(body) < owed:
                self._end_short(headers, body)
                return
            body = self._past_length(body)
        if self.trailers is None or self.head:
            self.stream.submit(headers, body, True)
        else:
            self.stream.finish_with_trailers(headers, body, self.trailers)

    def _past_length(self, data: bytes) -> bytes:
        """The app's body runs past its Content-Length (or has a 204 or 304): the client
        would read the rest as garbage (HTTP/1.1: as the next response), so it is dropped;
        the app's error is logged once."""
        owed = self.owed
        if owed < 0:
            return b""
        log.error("the app sent more body than its Content-Length (or its status) allows; "
                  "the rest is dropped")
        self.owed = -1
        return data[:owed]

    def _end_short(self, headers: list | None, body: bytes) -> None:
        """The app's body ended short of its Content-Length: what there is goes out, then
        the stream is reset (INTERNAL_ERROR; HTTP/1.1: the connection closes), the only
        way to tell the client that the response is incomplete."""
        log.error("the app's response ended %d bytes short of its Content-Length; the "
                  "stream is reset (HTTP/1.1: the connection closed)", self.owed - len(body))
        if headers is not None or body:
            self.stream.submit(headers, body, False)
        self.stream.reset(ErrorCodes.INTERNAL_ERROR)

    def _take_headers(self) -> list | None:
        if self.headers_sent:
            return None
        headers = self.headers
        if headers is None:
            raise RuntimeError("the application sent a body before calling start_response()")
        if not self.head:  # (a HEAD's body is dropped whatever its length)
            self.owed = _allowed_body_length(headers)
        self.headers_sent = True
        return headers

    def __call__(self, data: bytes) -> None:
        """The legacy ``write(data)`` that ``start_response`` returns (this response)."""
        self.write(data)

    def write(self, data: bytes) -> None:
        """The legacy ``write()``: send ``data`` as the next piece of the body."""
        if type(data) is not bytes:
            raise TypeError(f"write() takes bytes, not {type(data).__name__}")
        if self.head:
            # Nothing of the body goes out: the headers wait for the end, so that they
            # carry END_STREAM themselves (HTTP/2) instead of an empty DATA frame.
            if self.headers is None:
                raise RuntimeError("the application sent a body before calling start_response()")
            return
        headers = self._take_headers()
        owed = self.owed
        if owed is not None:
            if len(data) > owed:  # (always, once past: owed is then -1)
                data = self._past_length(data)
            else:
                self.owed = owed - len(data)
        if data:
            self.stream.submit(headers, data, False)
        elif headers is not None:
            self.stream.submit(headers, b"", False)

    def send_body(self, result) -> None:
        """Send the app's iterable, then END_STREAM."""
        if type(result) is FileWrapper:
            self._send_file(result)
            return
        if type(result) is list or type(result) is tuple:
            body = b"".join(result)  # a TypeError here names a non-bytes item
            if self.head:
                body = b""
            self._finish(self._take_headers(), body)
            return
        for chunk in result:
            if type(chunk) is not bytes:
                raise TypeError(f"the application yielded {type(chunk).__name__}, not bytes")
            if chunk:
                self.write(chunk)
        self._finish(self._take_headers(), b"")

    def _send_file(self, wrapper: FileWrapper) -> None:
        """A ``wsgi.file_wrapper`` response: sendfile where the connection allows,
        else the file in blocks; never past the declared Content-Length."""
        if self.headers is None:
            raise RuntimeError("the application returned a body before calling start_response()")
        if self.head:
            self._finish(self._take_headers(), b"")
            return
        # (-1, the body already past its length: blocks() yields nothing)
        length = self.owed if self.headers_sent else _allowed_body_length(self.headers)
        regular = None if self.headers_sent or not self.stream.can_sendfile else wrapper.regular_file()
        if regular is not None:
            fd, offset, available = regular
            headers = self.headers
            if length is None:
                length = available
                headers = headers + [(b"content-length", b"%d" % available)]
            elif length > available:
                raise ValueError(f"Content-Length {length} is more than the file's {available} "
                                 "bytes from its position")
            self.headers_sent = self.ended = True
            self.stream.send_file(headers, fd, offset, length)
            return
        for block in wrapper.blocks(length):
            self.write(block)
        self._finish(self._take_headers(), b"")

    def fail(self) -> None:
        """The app raised: a 500 if nothing went out yet, else reset the stream."""
        if self.headers_sent:
            self.stream.reset(ErrorCodes.INTERNAL_ERROR)
        else:
            self.headers_sent = True
            self.stream.submit(_SERVER_ERROR_HEADERS, b"" if self.head else _SERVER_ERROR_BODY, True)


def run_app(app: Callable, environ: dict, handoff) -> None:
    """Run one WSGI request to completion on the current (worker) thread.

    The iterable's ``close()`` is always called. An app exception is logged once with
    its traceback and answered with a 500 or an RST_STREAM INTERNAL_ERROR; a stream the
    client abandoned just stops the work quietly. ``OPTIONS *`` never reaches the app.
    ``handoff`` (handoff.py) carries the response to the exchange.
    """
    response = Response(handoff, environ["REQUEST_METHOD"] == "HEAD")
    environ["wsgi.early_hints"] = response.early_hints  # the key gunicorn uses
    environ["fasth2.send_trailers"] = environ["gunicorn.http2.send_trailers"] = \
        response.send_trailers  # (gunicorn's key: apps written for it run unchanged)
    try:
        if handoff.exchange.aborted:  # reset before a thread got to it: nothing to do
            return
        if environ["PATH_INFO"] == "*":
            if environ["REQUEST_METHOD"] == "OPTIONS":
                handoff.submit(_OPTIONS_ANSWER, b"", True)
            else:
                handoff.submit(_ASTERISK_REFUSED, b"" if response.head else _ASTERISK_REFUSED_BODY, True)
            return
        result = app(environ, response.start_response)
        try:
            response.send_body(result)
        finally:
            # (a list or tuple has no close: no lookup that fails, the usual body)
            close = None if type(result) is list or type(result) is tuple \
                else getattr(result, "close", None)
            if close is not None:
                close()
    except StreamAborted:
        log.debug("stream %d: client went away; application work stopped", handoff.stream_id)
    except Exception:
        if handoff.aborted:
            log.debug("stream %d: application failed after the client went away",
                      handoff.stream_id, exc_info=True)
            return
        log.exception("Error handling %s %s", environ.get("REQUEST_METHOD"),
                      environ.get("PATH_INFO"))
        try:
            response.fail()
        except StreamAborted:
            pass
