"""The ``--pid FILE`` option: the server's process id, for init scripts and ``kill``."""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

from .errors import StartupError


@contextlib.contextmanager
def pid_file(path: str | None) -> Iterator[None]:
    """Write this process's id to ``path`` for as long as the block runs (no-op on None).

    The file is removed at the end unless another process has written its id over it
    meanwhile (a new server started with the same file).
    """
    if path is None:
        yield
        return
    pid = str(os.getpid())
    try:
        with open(path, "w") as handle:
            handle.write(pid + "\n")
    except OSError as exc:
        raise StartupError(f"cannot write the pid file {path!r}: {exc.strerror}") from None
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            with open(path) as handle:
                mine = handle.read().strip() == pid
            if mine:
                os.unlink(path)
