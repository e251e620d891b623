"""The floor: the least an HTTP/1.1 server in Python on uvloop can do per request.

Run: python bench/floor.py --port P [--inline] MODULE:APP (compare.py starts it as the
servers "floor" and "floor-inline").

Not a server anyone should use: it answers every request head with the app's answer and
checks nothing. It exists to measure the cost fasth2's design cannot go below. Each
request still calls the WSGI app with an environ and ``start_response``, and its
answer is framed, but there is no parser (a request is its head's blank line), no
validation, no flow of body bytes, no keep-alive rules, no logging. Without
``--inline`` the app runs on a thread, handed over the way fasth2 hands it over by
default (the calls of one loop iteration as one batch, the answers back through
``call_soon_threadsafe``); with ``--inline`` it runs on the loop (what a ``--threads
0`` would do). Its figure, against fasth2's and granian's in the same run, says how
much of the gap a faster fasth2 could close and how much is the hand-off itself.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import queue
import sys
import threading

import uvloop


def _response(status: str, headers: list, body: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status}\r\n".encode("latin-1")]
    lines += [f"{name}: {value}\r\n".encode("latin-1") for name, value in headers]
    lines.append(b"\r\n")
    lines.append(body)
    return b"".join(lines)


def call_app(app, environ: dict) -> bytes:
    """One WSGI call, framed as an HTTP/1.1 response."""
    answer = []
    result = app(environ, lambda status, headers, exc_info=None: answer.extend((status, headers)))
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return _response(answer[0], answer[1], body)


class OneThread:
    """A thread that runs batches of calls; a loop iteration's calls are one batch."""

    def __init__(self, loop) -> None:
        self.loop = loop
        self.batch: list = []
        self.calls: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self.work, daemon=True).start()

    def submit(self, call) -> None:
        """On the loop: queue ``call`` for the end of this iteration's batch."""
        self.batch.append(call)
        if len(self.batch) == 1:
            self.loop.call_soon(self.dispatch)

    def dispatch(self) -> None:
        batch, self.batch = self.batch, []
        self.calls.put(batch)

    def work(self) -> None:
        while True:
            for call in self.calls.get():
                call()


class FloorProtocol(asyncio.Protocol):
    """Each blank line that ends a head is a request; each gets the app's answer."""

    def __init__(self, app, base: dict, pool: OneThread | None) -> None:
        self.app = app
        self.base = base
        self.pool = pool
        self.tail = b""

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        data = self.tail + data
        heads = data.split(b"\r\n\r\n")
        self.tail = heads.pop()
        for head in heads:
            target = head.split(b" ", 2)[1].decode("latin-1")
            environ = dict(self.base, PATH_INFO=target.partition("?")[0])
            if self.pool is None:
                self.transport.write(call_app(self.app, environ))
            else:
                self.pool.submit(lambda environ=environ: self.answer(environ))

    def answer(self, environ: dict) -> None:
        """On the app thread: call the app, hand the bytes to the loop."""
        self.pool.loop.call_soon_threadsafe(self.transport.write, call_app(self.app, environ))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--inline", action="store_true", help="run the app on the loop")
    parser.add_argument("app", help="MODULE:APP")
    args = parser.parse_args()
    module, _, name = args.app.partition(":")
    sys.path.insert(0, ".")
    app = getattr(importlib.import_module(module), name)
    base = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": str(args.port),
            "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
            "wsgi.input": None, "wsgi.errors": sys.stderr, "wsgi.multithread": True,
            "wsgi.multiprocess": False, "wsgi.run_once": False}

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        pool = None if args.inline else OneThread(loop)
        server = await loop.create_server(lambda: FloorProtocol(app, base, pool),
                                          "127.0.0.1", args.port)
        async with server:
            await server.serve_forever()

    uvloop.run(serve())


if __name__ == "__main__":
    main()
