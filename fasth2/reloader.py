"""``--reload``: watch the app's source and ask the supervisor to reload on a change.

A development aid, never on by default. The watching is watchfiles' (an optional
dependency, ``pip install 'fasth2[reload]'``), in a daemon thread of the supervisor: the
thread only wakes the supervisor's loop, which reloads as on SIGHUP (new workers import
the changed code; the old ones stop once the new ones serve, or go on serving if the
new code cannot start).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Callable

from .errors import StartupError

log = logging.getLogger("fasth2.error")

#: Milliseconds of quiet after a change before the reload: an editor's save, or a
#: ``git checkout``, is one reload rather than many.
DEBOUNCE_MS = 400


def watch_for_changes(folders: tuple[str, ...], on_change: Callable[[str], None]) -> Callable[[], None]:
    """Call ``on_change(why)`` whenever a ``.py`` file under ``folders`` changes.

    Returns a function that stops the watching.
    """
    try:
        import watchfiles
    except ImportError:
        raise StartupError("--reload needs watchfiles: pip install 'fasth2[reload]'") from None
    for folder in folders:
        if not os.path.isdir(folder):
            raise StartupError(f"--reload-dir {folder!r} is not a folder")
    logging.getLogger("watchfiles").setLevel(logging.WARNING)  # ours says what changed
    stop = threading.Event()

    def watch() -> None:
        for changes in watchfiles.watch(*folders, watch_filter=watchfiles.PythonFilter(),
                                        debounce=DEBOUNCE_MS, stop_event=stop,
                                        raise_interrupt=False):
            paths = sorted({_shown(path) for _, path in changes})
            shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
            on_change(f"Changed: {shown}")

    threading.Thread(target=watch, name="fasth2-reload", daemon=True).start()
    log.info("Watching %s for changes (--reload)", ", ".join(folders))
    return stop.set


def _shown(path: str) -> str:
    """A changed file's path, relative to the current folder when under it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative
