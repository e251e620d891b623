"""Choose the compiled speedups or their pure-Python twin, once, at import.

``FASTH2_NO_EXTENSIONS=1`` forces the pure build; otherwise the compiled module is used
when it was built, and a server started without it warns (``warn_if_slow``).
``COMPILED`` says which is active; ``fasth2 --version`` prints it.
"""

from __future__ import annotations

import os

from . import _speedups_py as pure

compiled = None
if not os.environ.get("FASTH2_NO_EXTENSIONS"):
    try:
        from . import _speedups as compiled  # type: ignore[no-redef]
    except ImportError:  # not built (no compiler at install time): the twin serves
        compiled = None

implementation = compiled if compiled is not None else pure

#: True when the Cython-compiled hot paths are in use.
COMPILED: bool = compiled is not None
#: A human-readable name for the active build, as ``--version`` prints it.
BUILD: str = "compiled speedups" if COMPILED else "pure Python"
#: What a server start-up says when the pure build runs without having been chosen.
SLOW_BUILD_WARNING = (
    "fasth2 is running its pure-Python build, several times slower than the compiled "
    "one: its speedups were not compiled when it was installed. Install a wheel, or "
    "reinstall where a C compiler is available (pip install --force-reinstall "
    "--no-binary fasth2 fasth2); set FASTH2_NO_EXTENSIONS=1 to choose the pure build "
    "and silence this warning.")
_warned = False


def warn_if_slow(log) -> None:
    """Log SLOW_BUILD_WARNING once per process (a forked worker inherits "once"),
    unless the compiled build runs or the pure one was chosen."""
    global _warned
    if not COMPILED and not os.environ.get("FASTH2_NO_EXTENSIONS") and not _warned:
        _warned = True
        log.warning(SLOW_BUILD_WARNING)

build_environ = implementation.build_environ
lone_head = implementation.lone_head
parse_plain_head = implementation.parse_plain_head
encode_response_headers = implementation.encode_response_headers
split_authority = implementation.split_authority
FrameScanner = implementation.FrameScanner
frame_data = implementation.frame_data
data_frames = implementation.data_frames
frame_headers = implementation.frame_headers
validate_request_headers = implementation.validate_request_headers
informational_response = implementation.informational_response
declared_content_length = implementation.declared_content_length
http1_response_head = implementation.http1_response_head
h2_response_fields = implementation.h2_response_fields
Lock = implementation.Lock
FRAMING_CHUNKED = implementation.FRAMING_CHUNKED
FRAMING_CLOSE = implementation.FRAMING_CLOSE
HpackDecoder = implementation.HpackDecoder
HpackEncoder = implementation.HpackEncoder
ReadBuffer = implementation.ReadBuffer
