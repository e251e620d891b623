"""A conformant HTTP/2 client built on h2, for many concurrent uploads on one connection.

It sends every stream's body as fast as the stream and connection windows allow, in
turn, never blocking one stream on another, and returns window for response bytes as it
reads them: what a well-behaved client does. ``sent_before`` records how much of each
body the server's windows had let through at a moment, to check a stated bound.
"""

from __future__ import annotations

import selectors
import socket
import ssl
import time

import h2.config
import h2.connection
import h2.events


class Upload:
    """One request on the connection: its body, and the response as it arrives."""

    def __init__(self, stream_id: int, body: bytes) -> None:
        self.stream_id = stream_id
        self.body = body
        self.sent = 0
        self.ended = False  # END_STREAM sent
        self.status: str | None = None
        self.response = bytearray()
        self.done = False
        self.reset_code: int | None = None


class H2Uploader:
    """Uploads many bodies at once on one connection and collects the responses."""

    def __init__(self, port: int, *, ca: str | None = None) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if ca is not None:
            context = ssl.create_default_context(cafile=ca)
            context.set_alpn_protocols(["h2"])
            sock = context.wrap_socket(sock, server_hostname="localhost")
        sock.setblocking(False)
        self.sock = sock
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.uploads: dict[int, Upload] = {}
        self.authority = "localhost"
        self.scheme = "https" if ca else "http"
        self._out = b""

    def start(self, path: str, body: bytes) -> Upload:
        """Open a stream for a POST of ``body`` to ``path`` (sent by ``run``)."""
        stream_id = self.conn.get_next_available_stream_id()
        self.conn.send_headers(stream_id, [
            (":method", "POST"), (":scheme", self.scheme), (":authority", self.authority),
            (":path", path), ("content-length", str(len(body)))])
        upload = self.uploads[stream_id] = Upload(stream_id, body)
        return upload

    def run(self, timeout: float = 60, until=None) -> None:
        """Send and receive until every upload is answered (or ``until()`` is true)."""
        deadline = time.monotonic() + timeout
        selector = selectors.DefaultSelector()
        selector.register(self.sock, selectors.EVENT_READ)
        try:
            while not all(u.done for u in self.uploads.values()):
                if until is not None and until():
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{sum(not u.done for u in self.uploads.values())} "
                                       "uploads unanswered")
                self._send_bodies()
                self._out += self.conn.data_to_send()
                wanted = selectors.EVENT_READ | (selectors.EVENT_WRITE if self._out else 0)
                selector.modify(self.sock, wanted)
                for _, mask in selector.select(0.05):
                    if mask & selectors.EVENT_READ:
                        self._read()
                    if mask & selectors.EVENT_WRITE:
                        self._write()
        finally:
            selector.close()

    def _send_bodies(self) -> None:
        """Queue, on every stream, as much of its body as the windows allow."""
        conn = self.conn
        for upload in self.uploads.values():
            while not (upload.done or upload.ended):
                remaining = len(upload.body) - upload.sent
                if remaining == 0:
                    conn.end_stream(upload.stream_id)
                    upload.ended = True
                    break
                size = min(conn.local_flow_control_window(upload.stream_id),
                           conn.max_outbound_frame_size, remaining)
                if size <= 0:
                    break
                conn.send_data(upload.stream_id, upload.body[upload.sent:upload.sent + size])
                upload.sent += size

    def _write(self) -> None:
        while self._out:
            try:
                written = self.sock.send(self._out[:1 << 20])
            except (BlockingIOError, ssl.SSLWantWriteError):
                return
            self._out = self._out[written:]

    def _read(self) -> None:
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, ssl.SSLWantReadError):
            return
        if not data:
            raise ConnectionError("the server closed the connection")
        for event in self.conn.receive_data(data):
            upload = self.uploads.get(getattr(event, "stream_id", 0))
            if isinstance(event, h2.events.ResponseReceived):
                upload.status = dict(event.headers)[b":status"].decode()
            elif isinstance(event, h2.events.DataReceived):
                upload.response += event.data
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                upload.done = True
            elif isinstance(event, h2.events.StreamReset):
                upload.reset_code = event.error_code
                upload.done = True
            elif isinstance(event, h2.events.ConnectionTerminated):
                raise ConnectionError(f"GOAWAY {event.error_code}")

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()
