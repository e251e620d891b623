"""fasth2: a Cython-accelerated HTTP/2 server for WSGI applications.

``fasth2.run(app)`` serves a WSGI app until SIGTERM/SIGINT; ``await fasth2.serve(app)``
does the same inside a running event loop; ``Config`` holds every option and limit.
"""

from ._version import VERSION as __version__
from .config import Config
from .server import Server, StartupError, run, serve
from .speedups import BUILD, COMPILED

__all__ = ["BUILD", "COMPILED", "Config", "Server", "StartupError", "__version__", "run", "serve"]
