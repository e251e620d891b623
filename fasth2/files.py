"""``wsgi.file_wrapper`` (PEP 3333's optional extension): file responses without copies.

Strategy: an app returns ``environ["wsgi.file_wrapper"](file)``; fasth2 recognises its
own wrapper and sends the file in the cheapest way the connection allows. On HTTP/1.1
over cleartext that is ``os.sendfile``: the kernel copies from the page cache to the
socket, nothing passes through Python. The app's thread does it once the response
head has been flushed (the loop writes nothing else on that connection meanwhile: an
HTTP/1.1 connection answers one request at a time), waiting for writability with
``poll`` and giving up after the write-stall timeout. On HTTP/2 and over TLS (where
bytes must be framed or encrypted) the file is read in blocks on the app's thread and
streamed as any body is, so at most the stream's buffer of it is in memory. Either
way the response stops at the Content-Length the app declared (a Range response seeks
first and declares the range's length).
"""

from __future__ import annotations

import os
import select
import stat
from typing import IO, Callable, Iterator

from .errors import StreamAborted

#: Bytes read per block when a file is streamed (HTTP/2, TLS, or not a regular file).
BLOCK_SIZE = 256 * 1024
#: Bytes asked of one os.sendfile call: big enough to amortise the call, small enough
#: to notice a client that went away.
SENDFILE_STEP = 4 * 1024 * 1024


class FileWrapper:
    """``wsgi.file_wrapper``: iterate over a file-like object in blocks.

    Iterating it works everywhere (PEP 3333); fasth2 uses ``fileno()``/``tell()`` of a
    regular file to send it with ``os.sendfile`` where it can. ``close()`` closes the
    file.
    """

    def __init__(self, filelike: IO[bytes], block_size: int = BLOCK_SIZE) -> None:
        self.filelike = filelike
        self.block_size = block_size

    def __iter__(self) -> Iterator[bytes]:
        return self.blocks(None)

    def blocks(self, limit: int | None) -> Iterator[bytes]:
        """The file's blocks, ``limit`` bytes at most (None: to the end)."""
        read = self.filelike.read
        while limit is None or limit > 0:
            block = read(self.block_size if limit is None else min(self.block_size, limit))
            if not block:
                return
            if limit is not None:
                limit -= len(block)
            yield block

    def regular_file(self) -> tuple[int, int, int] | None:
        """(descriptor, offset, bytes to its end) of a regular file; None otherwise."""
        try:
            fd = self.filelike.fileno()
            offset = self.filelike.tell()
            info = os.fstat(fd)
        except (AttributeError, OSError, ValueError):
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        return fd, offset, max(0, info.st_size - offset)

    def close(self) -> None:
        """Close the file (PEP 3333: the server calls this when done)."""
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()


def send_with_sendfile(socket_fd: int, fd: int, offset: int, count: int, stall: float,
                       aborted: Callable[[], bool]) -> int:
    """Send ``count`` bytes of file ``fd`` from ``offset`` to a non-blocking socket;
    the number of sendfile calls. Raises StreamAborted if the client goes away, stops
    reading for ``stall`` seconds, or the file ends early."""
    writable = select.poll()
    writable.register(socket_fd, select.POLLOUT)
    calls = 0
    while count:
        if aborted():
            raise StreamAborted("the client went away")
        try:
            sent = os.sendfile(socket_fd, fd, offset, min(count, SENDFILE_STEP))
        except BlockingIOError:
            if not writable.poll(stall * 1000):
                raise StreamAborted("the client stopped reading") from None
            continue
        except OSError as exc:
            raise StreamAborted(f"sendfile failed: {exc.strerror}") from None
        calls += 1
        if sent == 0:
            raise StreamAborted("the file ended before its declared length")
        offset += sent
        count -= sent
    return calls
