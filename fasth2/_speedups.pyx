# cython: language_level=3, boundscheck=False, wraparound=False
"""Compiled hot paths of fasth2; ``_speedups_py.py`` is the pure-Python twin.

Same names, signatures, results and exceptions as the twin (tests run both). Bytes are
walked as ``const unsigned char *`` so that the inner loops stay in C; Python objects
are created only for the results.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from urllib.parse import unquote_to_bytes

HOP_BY_HOP = frozenset(
    (b"connection", b"keep-alive", b"transfer-encoding", b"upgrade", b"proxy-connection")
)

cdef dict _DEFAULT_PORTS = {"https": "443", "http": "80"}

# 1 for the bytes allowed in a header-name token (RFC 9110 §5.6.2), else 0.
cdef unsigned char _TOKEN[256]


cdef void _init_tables():
    cdef bytes allowed = (b"!#$%&'*+-.^_`|~0123456789"
                          b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    cdef int i
    for i in range(256):
        _TOKEN[i] = 0
    for i in range(len(allowed)):
        _TOKEN[<unsigned char>allowed[i]] = 1


_init_tables()


# ---- private helpers -------------------------------------------------------------

cdef inline bint _contains(bytes data, unsigned char wanted):
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(data)
    cdef Py_ssize_t i, n = PyBytes_GET_SIZE(data)
    for i in range(n):
        if p[i] == wanted:
            return True
    return False


cdef str _environ_key(bytes name):
    """``HTTP_`` + the upper-cased name with '-' as '_' (the name is lower-case ASCII)."""
    cdef Py_ssize_t i, n = PyBytes_GET_SIZE(name)
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(name)
    cdef bytearray out = bytearray(5 + n)
    cdef unsigned char c
    out[0] = 72; out[1] = 84; out[2] = 84; out[3] = 80; out[4] = 95  # "HTTP_"
    for i in range(n):
        c = p[i]
        if c == 45:  # '-'
            c = 95
        elif 97 <= c <= 122:
            c -= 32
        out[5 + i] = c
    return out.decode("latin-1")


cdef bint _is_digits(str text):
    return len(text) > 0 and text.isascii() and text.isdigit()


# ---- public functions ------------------------------------------------------------

def split_authority(str authority, str scheme):
    """Split ``host[:port]`` (IPv6 in brackets) into (SERVER_NAME, SERVER_PORT)."""
    cdef Py_ssize_t end
    cdef str host, rest, port
    if authority.startswith("["):
        end = authority.find("]")
        if end != -1:
            host = authority[1:end]
            rest = authority[end + 1:]
            if rest.startswith(":") and rest[1:].isdigit():
                return host, rest[1:]
            return host, _DEFAULT_PORTS.get(scheme, "80")
    host, sep, port = authority.rpartition(":")
    if sep and port.isdigit():
        return host, port
    return authority, _DEFAULT_PORTS.get(scheme, "80")


def build_environ(list headers, dict base):
    """Return a new WSGI environ: a copy of ``base`` filled from a request header list.

    See ``fasth2._speedups_py.build_environ`` for the full contract.
    """
    cdef dict environ = base.copy()
    cdef object authority = None
    cdef bytes name, value, path, query
    cdef str key, text
    cdef object previous
    cdef object pair
    cdef Py_ssize_t cut
    for pair in headers:
        name = <bytes>pair[0]
        value = <bytes>pair[1]
        if PyBytes_GET_SIZE(name) > 0 and PyBytes_AS_STRING(name)[0] == b':':
            if name == b":method":
                environ["REQUEST_METHOD"] = value.decode("latin-1")
            elif name == b":path":
                cut = value.find(b"?")
                if cut == -1:
                    path = value
                    query = b""
                else:
                    path = value[:cut]
                    query = value[cut + 1:]
                if _contains(path, 37):  # '%'
                    path = unquote_to_bytes(path)
                environ["PATH_INFO"] = path.decode("latin-1")
                environ["QUERY_STRING"] = query.decode("latin-1")
            elif name == b":authority":
                authority = value.decode("latin-1")
            continue
        if name == b"content-type":
            key = "CONTENT_TYPE"
        elif name == b"content-length":
            key = "CONTENT_LENGTH"
        elif _contains(name, 95):  # '_'
            continue
        else:
            key = _environ_key(name)
        text = value.decode("latin-1")
        previous = environ.get(key)
        if previous is None:
            environ[key] = text
        elif key == "HTTP_COOKIE":
            environ[key] = <str>previous + "; " + text
        else:
            environ[key] = <str>previous + ", " + text
    if authority is not None:
        environ["HTTP_HOST"] = authority
    host = environ.get("HTTP_HOST")
    if host:
        environ["SERVER_NAME"], environ["SERVER_PORT"] = split_authority(
            host, environ["wsgi.url_scheme"])
    return environ


cdef void _check_name(bytes name) except *:
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(name)
    cdef Py_ssize_t i, n = PyBytes_GET_SIZE(name)
    if n == 0:
        raise ValueError("empty response header name")
    for i in range(n):
        if not _TOKEN[p[i]]:
            raise ValueError(f"invalid character in response header name {name!r}")


cdef void _check_value(bytes name, bytes value) except *:
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(value)
    cdef Py_ssize_t i, n = PyBytes_GET_SIZE(value)
    cdef unsigned char c
    for i in range(n):
        c = p[i]
        if c == 0 or c == 13 or c == 10:
            raise ValueError(f"invalid character in the value of response header {name!r}")


def encode_response_headers(status, headers):
    """Validate a WSGI status line and header list; return h2's header pairs.

    See ``fasth2._speedups_py.encode_response_headers`` for the full contract.
    """
    cdef str code_text
    cdef int code
    cdef list result
    cdef bytes raw_name, raw_value
    if type(status) is not str:
        raise TypeError(f"status must be a str, not {type(status).__name__}")
    if len(status) < 4 or status[3] != " " or not _is_digits(status[:3]):
        raise ValueError(f"status must be 'NNN Reason', got {status!r}")
    code_text = status[:3]
    code = int(code_text)
    if code < 200 or code > 599:
        raise ValueError(f"status code must be 200-599, got {code}")
    if type(headers) is not list:
        raise TypeError(f"response headers must be a list, not {type(headers).__name__}")
    result = [(b":status", code_text.encode("ascii"))]
    for item in <list>headers:
        if type(item) is not tuple or len(<tuple>item) != 2:
            raise TypeError(f"each response header must be a (name, value) tuple, got {item!r}")
        name, value = <tuple>item
        if type(name) is not str or type(value) is not str:
            raise TypeError(f"response header name and value must be str, got {item!r}")
        try:
            raw_name = (<str>name).lower().encode("latin-1")
            raw_value = (<str>value).strip(" \t").encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError(f"response header {item!r} is not latin-1") from None
        _check_name(raw_name)
        _check_value(raw_name, raw_value)
        if raw_name in HOP_BY_HOP:
            continue
        result.append((raw_name, raw_value))
    return result


cdef class FrameScanner:
    """Walks the incoming byte stream frame by frame, ahead of h2.

    See ``fasth2._speedups_py.FrameScanner`` for the contract.
    """

    cdef Py_ssize_t _skip
    cdef bytes _partial
    cdef bint _in_header_block

    def __init__(self, Py_ssize_t preface_length=24):
        self._skip = preface_length
        self._partial = b""
        self._in_header_block = False

    def feed(self, bytes data):
        """Scan ``data``; return the bytes for h2 and the zero-WINDOW_UPDATE stream ids."""
        cdef list items = []
        cdef Py_ssize_t start = 0, pos = 0, end, step, length, stop
        cdef const unsigned char *p
        cdef unsigned char kind, flags
        cdef unsigned long stream_id, increment
        if PyBytes_GET_SIZE(self._partial):
            data = self._partial + data
            self._partial = b""
        end = PyBytes_GET_SIZE(data)
        p = <const unsigned char *>PyBytes_AS_STRING(data)
        while pos < end:
            if self._skip:
                step = self._skip if self._skip < end - pos else end - pos
                self._skip -= step
                pos += step
                continue
            if end - pos < 9:
                self._partial = data[pos:]
                break
            length = (<Py_ssize_t>p[pos] << 16) | (<Py_ssize_t>p[pos + 1] << 8) | p[pos + 2]
            kind = p[pos + 3]
            flags = p[pos + 4]
            stream_id = (((<unsigned long>p[pos + 5] & 0x7F) << 24) | (<unsigned long>p[pos + 6] << 16)
                         | (<unsigned long>p[pos + 7] << 8) | p[pos + 8])
            if kind == 0x8 and length == 4 and stream_id and not self._in_header_block:
                if end - pos < 13:
                    self._partial = data[pos:]
                    break
                increment = (((<unsigned long>p[pos + 9] & 0x7F) << 24) | (<unsigned long>p[pos + 10] << 16)
                             | (<unsigned long>p[pos + 11] << 8) | p[pos + 12])
                if increment == 0:
                    if pos > start:
                        items.append(data[start:pos])
                    items.append(<object>stream_id)
                    pos += 13
                    start = pos
                    continue
            if kind == 0x1 or kind == 0x5 or kind == 0x9:
                self._in_header_block = not (flags & 0x4)
            pos += 9
            self._skip = length
        stop = end - PyBytes_GET_SIZE(self._partial)
        if start == 0 and stop == end and not items:
            return [data]
        if stop > start:
            items.append(data[start:stop])
        return items
