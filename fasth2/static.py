"""A static-file WSGI app with byte ranges: the example of ``wsgi.file_wrapper``.

``FASTH2_STATIC_ROOT=/srv/www python -m fasth2 fasth2.static:app`` serves that folder
(the current one without the variable), or ``StaticFiles("/srv/www")`` from Python; GET and
HEAD: a single byte range (``Range: bytes=0-99``, ``bytes=100-``, ``bytes=-100``) gets
206 with Content-Range, a range past the end 416; other requests the whole file, with
``Accept-Ranges``, ``Last-Modified`` and a type from the file name. Paths that would
leave the folder (``..``, symbolic links pointing out) are 404, as are folders.
"""

from __future__ import annotations

import mimetypes
import os
import re
from email.utils import formatdate
from typing import Callable, Iterable

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class StaticFiles:
    """A WSGI app serving the files under ``root``."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = os.path.realpath(root)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            return _plain(start_response, "405 Method Not Allowed", b"GET or HEAD only\n",
                          [("Allow", "GET, HEAD")])
        path = self._resolve(environ.get("PATH_INFO", "/"))
        if path is None:
            return _plain(start_response, "404 Not Found", b"not found\n")
        file = open(path, "rb")
        size = os.fstat(file.fileno()).st_size
        headers = [("Content-Type", mimetypes.guess_type(path)[0] or "application/octet-stream"),
                   ("Accept-Ranges", "bytes"),
                   ("Last-Modified", formatdate(os.fstat(file.fileno()).st_mtime, usegmt=True))]
        wanted = _byte_range(environ.get("HTTP_RANGE"), size)
        if wanted == "unsatisfiable":
            file.close()
            return _plain(start_response, "416 Range Not Satisfiable", b"",
                          [("Content-Range", f"bytes */{size}")])
        if wanted is None:
            start_response("200 OK", headers + [("Content-Length", str(size))])
        else:
            first, last = wanted
            file.seek(first)
            start_response("206 Partial Content", headers + [
                ("Content-Length", str(last - first + 1)),
                ("Content-Range", f"bytes {first}-{last}/{size}")])
        return environ["wsgi.file_wrapper"](file)

    def _resolve(self, path_info: str) -> str | None:
        """The file a request path names under the root, or None."""
        candidate = os.path.realpath(os.path.join(self.root, path_info.lstrip("/")))
        if os.path.commonpath([candidate, self.root]) != self.root or not os.path.isfile(candidate):
            return None
        return candidate


def _byte_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """One byte range (first, last) of RFC 9110 §14.1.2; None for the whole file (no
    header, or one this app does not take: several ranges, other units)."""
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        length = int(last)
        if length == 0:
            return "unsatisfiable"
        return max(0, size - length), size - 1
    start = int(first)
    if start >= size:
        return "unsatisfiable"
    end = min(int(last), size - 1) if last else size - 1
    return (start, end) if start <= end else None


def _plain(start_response: Callable, status: str, body: bytes, extra: list = ()) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body))),
                            *extra])
    return [body]


#: The app ``python -m fasth2 fasth2.static:app`` serves: $FASTH2_STATIC_ROOT, or ".".
app = StaticFiles(os.environ.get("FASTH2_STATIC_ROOT", "."))
