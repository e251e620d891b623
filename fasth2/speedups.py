"""Choose the compiled speedups or their pure-Python twin, once, at import.

``FASTH2_NO_EXTENSIONS=1`` forces the pure build; otherwise the compiled module is used
when it was built. ``COMPILED`` says which is active; ``fasth2 --version`` prints it.
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

build_environ = implementation.build_environ
lone_head = implementation.lone_head
encode_response_headers = implementation.encode_response_headers
split_authority = implementation.split_authority
FrameScanner = implementation.FrameScanner
frame_data = implementation.frame_data
data_frames = implementation.data_frames
frame_headers = implementation.frame_headers
validate_request_headers = implementation.validate_request_headers
HpackDecoder = implementation.HpackDecoder
HpackEncoder = implementation.HpackEncoder
ReadBuffer = implementation.ReadBuffer
