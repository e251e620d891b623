"""Choose, once, the build of the modules that are compiled as they are.

Strategy: besides the hand-written speedups (speedups.py), setup.py compiles a few
pure-Python modules a second time, unchanged, under another name (``TYPED_TWINS``: e.g.
http1.py as ``fasth2._http1_c``), each with a ``.pxd`` that makes its classes extension
types with typed fields. One source, two builds: the ``.py`` is the pure one. The
classes here are the compiled ones whenever the speedups are (``speedups.COMPILED``),
else the Python ones; the rest of the package imports them from here, never from the
modules themselves.
"""

from __future__ import annotations

from .speedups import COMPILED

# (Exchange first: the modules below import it from here while this one is loading.)
if COMPILED:
    from ._exchange_c import ConnectionInfo, Exchange
    from ._body_c import EMPTY_BODY, RequestBody
    from ._handoff_c import LoopInbox, ThreadHandOff
    from ._http1_c import H1Protocol
    from ._memory_c import ResponseMemory
    from ._requestcount_c import RequestCount
    from ._stream_c import Stream
    from ._threadpool_c import ThreadPool, ThreadShare
    from ._wsgi_c import run_app
    from ._gateway_c import WSGIGateway
    from ._protocol_c import BufferedH2Protocol, H2Protocol  # (last: it imports Stream)
else:
    from .exchange import ConnectionInfo, Exchange
    from .body import EMPTY_BODY, RequestBody
    from .handoff import LoopInbox, ThreadHandOff
    from .http1 import H1Protocol
    from .memory import ResponseMemory
    from .requestcount import RequestCount
    from .stream import Stream
    from .threadpool import ThreadPool, ThreadShare
    from .wsgi import run_app
    from .gateway import WSGIGateway
    from .protocol import BufferedH2Protocol, H2Protocol

__all__ = ["BufferedH2Protocol", "ConnectionInfo", "EMPTY_BODY", "Exchange", "H1Protocol",
           "H2Protocol", "LoopInbox", "RequestBody", "RequestCount", "ResponseMemory", "Stream",
           "ThreadHandOff", "ThreadPool", "ThreadShare", "WSGIGateway", "run_app"]
