# cython: language_level=3, boundscheck=False, wraparound=False
"""Compiled hot paths of fasth2; ``_speedups_py.py`` is the pure-Python twin.

Same names, signatures, results and exceptions as the twin (tests run both). Bytes are
walked as ``const unsigned char *`` so that the inner loops stay in C; Python objects
are created only for the results.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.buffer cimport PyBUF_WRITABLE, PyBuffer_FillInfo
from cpython.ref cimport Py_DECREF, Py_INCREF, PyObject
from cpython.dict cimport PyDict_Size
from cpython.pythread cimport (NOWAIT_LOCK, PY_LOCK_ACQUIRED, PyLockStatus,
                               PyThread_acquire_lock, PyThread_allocate_lock,
                               PyThread_free_lock, PyThread_release_lock)
from libc.string cimport memcmp, memcpy, memset
from http import HTTPStatus
from urllib.parse import unquote_to_bytes

from fasth2.errors import BadRequest, MalformedHeaders

#: The hot paths; the pure twin has the same list (``_speedups.pyi`` types them).
__all__ = [
    "build_environ", "lone_head", "parse_plain_head", "encode_response_headers",
    "split_authority", "FrameScanner", "frame_data", "data_frames", "frame_headers",
    "validate_request_headers", "informational_response", "declared_content_length",
    "http1_response_head", "h2_response_fields",
    "HpackDecoder", "HpackEncoder", "ReadBuffer", "Lock",
]

HOP_BY_HOP = frozenset(
    (b"connection", b"keep-alive", b"transfer-encoding", b"upgrade", b"proxy-connection")
)
# ``te`` is a request header; in a response h2 would reject it, so it goes too.
DROPPED_RESPONSE_HEADERS = HOP_BY_HOP | {b"te"}

cdef dict _DEFAULT_PORTS = {"https": "443", "http": "80"}
# header name -> environ key; bounded so that random names cannot grow it forever.
cdef dict _KEYS = {}
cdef Py_ssize_t _KEYS_LIMIT = 1024

# 1 for the bytes allowed in a header-name token (RFC 9110 §5.6.2), else 0.
cdef unsigned char _TOKEN[256]
# 1 for the bytes of a plain origin-form target (see parse_plain_head), else 0.
cdef unsigned char _TARGET[256]


cdef void _init_tables():
    cdef bytes allowed = (b"!#$%&'*+-.^_`|~0123456789"
                          b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    cdef bytes target = (b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                         b"-._~!$&'()*+,;=:@/?%")
    cdef int i
    for i in range(256):
        _TOKEN[i] = 0
        _TARGET[i] = 0
    for i in range(len(allowed)):
        _TOKEN[<unsigned char>allowed[i]] = 1
    for i in range(len(target)):
        _TARGET[<unsigned char>target[i]] = 1


_init_tables()


# ---- private helpers -------------------------------------------------------------

cdef inline Py_ssize_t _find(bytes data, unsigned char wanted):
    """The index of the first ``wanted`` byte in ``data``, or -1."""
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(data)
    cdef Py_ssize_t i, n = PyBytes_GET_SIZE(data)
    for i in range(n):
        if p[i] == wanted:
            return i
    return -1


cdef inline bint _contains(bytes data, unsigned char wanted):
    return _find(data, wanted) != -1


cdef inline bint _is_ascii(bytes data):
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(data)
    cdef Py_ssize_t i, n = PyBytes_GET_SIZE(data)
    for i in range(n):
        if p[i] >= 0x80:
            return False
    return True


cdef str _environ_key(bytes name):
    """``HTTP_`` + the upper-cased name with '-' as '_' (the name is lower-case ASCII)."""
    cdef Py_ssize_t i, n = PyBytes_GET_SIZE(name)
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(name)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, 5 + n)
    cdef unsigned char *q = <unsigned char *>PyBytes_AS_STRING(out)
    cdef unsigned char c
    memcpy(q, b"HTTP_", 5)
    for i in range(n):
        c = p[i]
        if c == 45:  # '-'
            c = 95
        elif 97 <= c <= 122:
            c -= 32
        q[5 + i] = c
    return out.decode("latin-1")


cdef inline bint _is_digits(str text):
    """True for one or more ASCII digits (the twin's ``isascii() and isdigit()``, as a
    loop over the characters instead of two method calls)."""
    cdef Py_UCS4 ch
    if len(text) == 0:
        return False
    for ch in text:
        if ch < u'0' or ch > u'9':
            return False
    return True


# ---- public functions ------------------------------------------------------------

def split_authority(str authority, str scheme):
    """Split ``host[:port]`` (IPv6 in brackets) into (SERVER_NAME, SERVER_PORT)."""
    return _split_authority(authority, scheme)


cdef tuple _split_authority(str authority, str scheme):
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
    # rpartition(":") and isdigit(), as a loop over the characters (no method calls).
    cdef Py_ssize_t n = len(authority)
    cdef Py_ssize_t colon = n - 1
    cdef Py_ssize_t i
    cdef Py_UCS4 ch
    while colon >= 0 and authority[colon] != u":":
        colon -= 1
    if 0 <= colon < n - 1:
        for i in range(colon + 1, n):
            ch = authority[i]
            if not ch.isdigit():
                break
        else:
            return authority[:colon], authority[colon + 1:]
    return authority, _DEFAULT_PORTS.get(scheme, "80")


COMMON_STARTS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"PATCH ", b"OPTIONS ")


def lone_head(bytes data):
    """True if ``data`` is one whole request head of a common method and nothing more.

    See ``fasth2._speedups_py.lone_head``.
    """
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(data)
    cdef Py_ssize_t i, n = PyBytes_GET_SIZE(data)
    cdef unsigned char first
    if n < 4:
        return False
    first = p[0]
    # The method, by its first letter and then in full (p is NUL-terminated, so a read
    # shorter than the word stops at a mismatch).
    if first == b'G':
        if not (p[1] == b'E' and p[2] == b'T' and p[3] == b' '):
            return False
    elif first == b'P':
        if not ((p[1] == b'O' and p[2] == b'S' and p[3] == b'T' and p[4] == b' ')
                or (p[1] == b'U' and p[2] == b'T' and p[3] == b' ')
                or (p[1] == b'A' and p[2] == b'T' and p[3] == b'C' and p[4] == b'H'
                    and p[5] == b' ')):
            return False
    elif not data.startswith(COMMON_STARTS):
        return False
    # The first CRLF CRLF must be the last four bytes.
    for i in range(n - 3):
        if p[i] == b'\r' and p[i + 1] == b'\n' and p[i + 2] == b'\r' and p[i + 3] == b'\n':
            return i == n - 4
    return False


# The common methods, as the objects parse_plain_head returns (no copy per request).
cdef tuple _PLAIN_METHODS = (b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"PATCH", b"OPTIONS")


# Field names lately seen, lower-cased, in a small table indexed by length and first and
# last letters. The same few names come in every request; reusing the object saves its
# allocation, and its cached hash saves hashing it again in each lookup that follows.
cdef enum:
    _NAME_SLOTS = 128
    _NAME_CACHED_MAX = 40  # longer names are made afresh each time
cdef list _recent_names = [None] * _NAME_SLOTS


cdef inline unsigned char _lower(unsigned char c) noexcept:
    return c + 32 if 65 <= c <= 90 else c


cdef bytes _field_name(const unsigned char *p, Py_ssize_t n):
    """The lower-cased field name ``p[:n]``: a recent equal object, or a new one."""
    cdef Py_ssize_t k, slot = 0
    cdef bytes name
    cdef const unsigned char *known
    cdef unsigned char *q
    if 0 < n <= _NAME_CACHED_MAX:
        slot = (n * 7 + _lower(p[0]) * 3 + _lower(p[n - 1])) % _NAME_SLOTS
        cached = _recent_names[slot]
        if cached is not None and PyBytes_GET_SIZE(<bytes>cached) == n:
            known = <const unsigned char *>PyBytes_AS_STRING(<bytes>cached)
            for k in range(n):
                if _lower(p[k]) != known[k]:
                    break
            else:
                return <bytes>cached
    name = PyBytes_FromStringAndSize(NULL, n)
    q = <unsigned char *>PyBytes_AS_STRING(name)
    for k in range(n):
        q[k] = _lower(p[k])
    if 0 < n <= _NAME_CACHED_MAX:
        _recent_names[slot] = name
    return name


def parse_plain_head(bytes data, frozenset special):
    """The usual HTTP/1.1 request head in one call, or None (see the twin for which
    heads are the usual kind and what is returned)."""
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(data)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
    cdef Py_ssize_t i = 0, start, name_end, value_start, k, end = n - 2, size
    cdef unsigned char c
    cdef bytes method = None, candidate, target, name, value
    cdef unsigned char *q
    # One whole head and nothing after it: the read ends in the blank line (an earlier
    # blank line is an empty field name below, which refuses it).
    if n < 4 or memcmp(p + n - 4, b"\r\n\r\n", 4) != 0:
        return None
    while i < n and p[i] != 32:  # the method, up to its space
        i += 1
    for candidate in _PLAIN_METHODS:
        if PyBytes_GET_SIZE(candidate) == i and memcmp(PyBytes_AS_STRING(candidate), p, i) == 0:
            method = candidate
            break
    if method is None or i + 1 >= n or p[i + 1] != 47:  # '/'
        return None
    start = i = i + 1
    while _TARGET[p[i]]:  # (data ends in CRLF CRLF, which stops this)
        i += 1
    if i + 11 > n or memcmp(p + i, b" HTTP/1.1\r\n", 11) != 0:
        return None
    target = PyBytes_FromStringAndSize(<char *>p + start, i - start)
    cdef list headers = [(b":method", method), (b":path", target)]
    cdef list hosts = []
    size = i - start
    i += 11
    while i < end:
        start = i
        while _TOKEN[p[i]]:
            i += 1
        if i == start or p[i] != 58:  # ':'
            return None
        name_end = i
        i += 1
        while p[i] == 32 or p[i] == 9:
            i += 1
        value_start = i
        c = p[i]
        while 32 <= c < 127 or c == 9:
            i += 1
            c = p[i]
        if c != 13 or p[i + 1] != 10 or i == value_start or p[i - 1] == 32 or p[i - 1] == 9:
            return None
        name = _field_name(p + start, name_end - start)
        q = <unsigned char *>PyBytes_AS_STRING(name)
        if name in special:
            return None
        value = PyBytes_FromStringAndSize(<char *>p + value_start, i - value_start)
        if name_end - start == 4 and memcmp(q, b"host", 4) == 0:
            hosts.append(value)
        headers.append((name, value))
        size += (name_end - start) + (i - value_start) + 32
        i += 2
    return method, target, headers, hosts, size


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
    cdef Py_ssize_t cut, count
    for pair in headers:
        if type(pair) is tuple:
            name = <bytes>(<tuple>pair)[0]
            value = <bytes>(<tuple>pair)[1]
        else:
            name = <bytes>pair[0]
            value = <bytes>pair[1]
        if PyBytes_GET_SIZE(name) > 0 and PyBytes_AS_STRING(name)[0] == b':':
            if name == b":method":
                environ["REQUEST_METHOD"] = value.decode("latin-1")
            elif name == b":path":
                if not _is_ascii(value) or (
                        PyBytes_AS_STRING(value)[0] != b'/' and value != b"*"):
                    raise BadRequest(400, "Bad Request: invalid request-target")
                cut = _find(value, 63)  # '?'
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
            key = _KEYS.get(name)
            if key is None:
                key = _environ_key(name)
                if len(_KEYS) < _KEYS_LIMIT:
                    _KEYS[name] = key
        text = value.decode("latin-1")
        # One lookup where get and set took two; the size says whether it was new (an
        # identity test would not: a one-letter value decodes to a shared object).
        count = PyDict_Size(environ)
        previous = environ.setdefault(key, text)
        if PyDict_Size(environ) != count:
            pass
        elif key == "HTTP_COOKIE":
            environ[key] = <str>previous + "; " + text
        else:
            environ[key] = <str>previous + ", " + text
    if authority is not None:
        environ["HTTP_HOST"] = authority
    host = environ.get("HTTP_HOST")
    if host:
        environ["SERVER_NAME"], environ["SERVER_PORT"] = _split_remembered(
            <str>host, environ["wsgi.url_scheme"])
    return environ


# The last authority split, with its scheme and its parts, as one tuple (read once, so
# that another thread's replacement can never pair one host with another's parts).
# A connection's requests name the same Host over and over.
cdef tuple _last_split = (None, None, None)


cdef tuple _split_remembered(str authority, object scheme):
    global _last_split
    cdef tuple last = _last_split
    if scheme is last[1] and authority == last[0]:
        return <tuple>last[2]
    parts = _split_authority(authority, scheme)
    _last_split = (authority, scheme, parts)
    return parts


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


# What encode_response_headers made of the status lines and field names it was given
# (apps pass the same literals every time, whose hashes are cached): the ``:status``
# field, and the checked lower-case name. Bounded, so that names made up per response
# cannot grow them without end.
cdef dict _STATUS_FIELDS = {}
cdef dict _RESPONSE_NAMES = {}
# And whole fields, the app's (name, value) tuple -> the checked pair, for the values
# that repeat (a content type, a cache policy): one lookup where checking and encoding
# took ~650 instructions a field. Content-Length values vary with each body: not kept.
cdef dict _RESPONSE_FIELDS = {}
cdef Py_ssize_t _RESPONSE_CACHE_LIMIT = 512


def encode_response_headers(status, headers):
    """Validate a WSGI status line and header list; return h2's header pairs.

    See ``fasth2._speedups_py.encode_response_headers`` for the full contract.
    """
    cdef str code_text
    cdef int code
    cdef list result
    cdef bytes raw_name, raw_value
    cdef Py_ssize_t last
    if type(status) is not str:
        raise TypeError(f"status must be a str, not {type(status).__name__}")
    status_field = _STATUS_FIELDS.get(status)
    if status_field is None:
        if len(status) < 4 or status[3] != " " or not _is_digits(status[:3]):
            raise ValueError(f"status must be 'NNN Reason', got {status!r}")
        code_text = status[:3]
        code = int(code_text)
        if code < 200 or code > 599:
            raise ValueError(f"status code must be 200-599, got {code}")
        status_field = (b":status", code_text.encode("ascii"))
        if len(_STATUS_FIELDS) < _RESPONSE_CACHE_LIMIT:
            _STATUS_FIELDS[status] = status_field
    if type(headers) is not list:
        raise TypeError(f"response headers must be a list, not {type(headers).__name__}")
    result = [status_field]
    for item in <list>headers:
        if type(item) is not tuple or len(<tuple>item) != 2:
            raise TypeError(f"each response header must be a (name, value) tuple, got {item!r}")
        name, value = <tuple>item
        if type(name) is not str or type(value) is not str:
            raise TypeError(f"response header name and value must be str, got {item!r}")
        # A Content-Length (its value differs with each body, so no field is kept for
        # it) of plain digits passes every check below unchanged: encoded directly.
        if ((<str>name) == "Content-Length" or (<str>name) == "content-length") \
                and _is_digits(<str>value):
            result.append((b"content-length", (<str>value).encode("ascii")))
            continue
        field = _RESPONSE_FIELDS.get(item)
        if field is not None:
            result.append(field)
            continue
        known = _RESPONSE_NAMES.get(name)
        last = len(<str>value) - 1
        if last >= 0 and ((<str>value)[0] in " \t" or (<str>value)[last] in " \t"):
            value = (<str>value).strip(" \t")  # (a method call: only when it strips)
        try:
            raw_name = known if known is not None else (<str>name).lower().encode("latin-1")
            raw_value = (<str>value).encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError(f"response header {item!r} is not latin-1") from None
        if known is None:
            _check_name(raw_name)
            if len(_RESPONSE_NAMES) < _RESPONSE_CACHE_LIMIT:
                _RESPONSE_NAMES[name] = raw_name
        _check_value(raw_name, raw_value)
        if raw_name in DROPPED_RESPONSE_HEADERS:
            continue
        field = (raw_name, raw_value)
        if raw_name != b"content-length" and len(_RESPONSE_FIELDS) < _RESPONSE_CACHE_LIMIT:
            _RESPONSE_FIELDS[item] = field
        result.append(field)
    return result


# Bounds of one run of DATA frames joined per stream (as in the twin).
cdef enum:
    RUN_FRAMES = 256
    RUN_STREAMS = 32
    WINDOW_RUN_FRAMES = 4096
    WINDOW_RUN_STREAMS = 128
    TINY_WINDOW_UPDATE = 512


cdef inline unsigned long _u31(const unsigned char *p) noexcept:
    """A 31-bit big-endian field (a stream id, an increment), the reserved bit dropped."""
    return ((<unsigned long>p[0] & 0x7F) << 24) | (<unsigned long>p[1] << 16) | (<unsigned long>p[2] << 8) | p[3]


cdef inline int _stream_slot(unsigned long *ids, int *count, int cap, unsigned long wanted) noexcept:
    """The index of ``wanted`` in ``ids[:count]``, appended if new; -1 when full."""
    cdef int k = 0
    while k < count[0] and ids[k] != wanted:
        k += 1
    if k == count[0]:
        if k == cap:
            return -1
        ids[k] = wanted
        count[0] += 1
    return k


cdef class FrameScanner:
    """Walks the incoming byte stream frame by frame, ahead of h2.

    See ``fasth2._speedups_py.FrameScanner`` for the contract.
    """

    cdef Py_ssize_t _skip
    cdef bytes _partial
    cdef bint _in_header_block
    cdef Py_ssize_t _headers_per_chunk
    cdef Py_ssize_t _headers_seen
    cdef Py_ssize_t _max_frame_size
    cdef public Py_ssize_t empty_continuations

    def __init__(self, Py_ssize_t preface_length=24, Py_ssize_t headers_per_chunk=32,
                 Py_ssize_t max_frame_size=16384):
        self._max_frame_size = max_frame_size
        self._skip = preface_length
        self._partial = b""
        self._in_header_block = False
        self._headers_per_chunk = headers_per_chunk
        self._headers_seen = 0
        self.empty_continuations = 0

    def feed(self, bytes data):
        """Scan ``data``; return bytes for h2, zero-WINDOW_UPDATE ids, DATA/HEADERS tuples."""
        cdef list items = []
        cdef Py_ssize_t offset = 0, need
        cdef bytes held
        while PyBytes_GET_SIZE(self._partial):
            held = self._partial
            need = self._held_size(held) - PyBytes_GET_SIZE(held)
            if need > PyBytes_GET_SIZE(data) - offset:
                self._partial = held + data[offset:]
                return items
            self._partial = b""
            self._scan(held + data[offset:offset + need], 0, items)
            offset += need
        return self._scan(data, offset, items)

    cdef Py_ssize_t _held_size(self, bytes held):
        cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(held)
        cdef Py_ssize_t length
        if PyBytes_GET_SIZE(held) < 9:
            return 9
        length = (<Py_ssize_t>p[0] << 16) | (<Py_ssize_t>p[1] << 8) | p[2]
        if p[3] == 0x8 and length == 4:
            return 13
        return 9 + length if length <= self._max_frame_size else 9

    cdef list _scan(self, bytes data, Py_ssize_t pos, list items):
        cdef Py_ssize_t start = pos, end, step, length, stop
        cdef const unsigned char *p
        cdef unsigned char kind, flags
        cdef unsigned long stream_id, increment
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
            stream_id = _u31(p + pos + 5)
            if kind == 0x8 and length == 4 and not self._in_header_block:
                if end - pos < 13:
                    self._partial = data[pos:]
                    break
                increment = _u31(p + pos + 9)
                if stream_id and increment == 0:
                    if pos > start:
                        items.append(data[start:pos])
                    items.append(<object>stream_id)
                    pos += 13
                    start = pos
                    continue
                if increment and not p[pos + 9] & 0x80:
                    if pos > start:
                        items.append(data[start:pos])
                    pos = self._window_run(p, pos, end, items)
                    start = pos
                    continue
            if kind == 0x2 and length == 5 and stream_id and not self._in_header_block:
                if end - pos < 14:
                    self._partial = data[pos:]
                    break
                if _u31(p + pos + 9) != stream_id:
                    if pos > start:
                        items.append(data[start:pos])
                    pos = self._priority_run(p, pos, end, items)
                    start = pos
                    continue
            if ((kind == 0x0 or kind == 0x1 and flags & 0x4) and not flags & 0x28
                    and not self._in_header_block and length <= self._max_frame_size
                    and stream_id):
                if end - pos < 9 + length:  # wait for the rest (at most max_frame_size)
                    self._partial = data[pos:]
                    break
                if pos > start:
                    items.append(data[start:pos])
                if kind == 0x0 and length:
                    pos = self._data_run(data, p, pos, end, items)
                else:
                    payload = data[pos + 9:pos + 9 + length]
                    items.append((<object>kind, <object>stream_id, <object>flags,
                                  [payload] if kind == 0x0 else payload))
                    pos += 9 + length
                start = pos
                continue
            if kind == 0x1:
                if self._headers_seen == self._headers_per_chunk:
                    if pos > start:
                        items.append(data[start:pos])
                    start = pos
                    self._headers_seen = 0
                self._headers_seen += 1
            if kind == 0x1 or kind == 0x5 or kind == 0x9:
                self._in_header_block = not (flags & 0x4)
                if kind == 0x9 and length == 0:
                    self.empty_continuations += 1
            pos += 9
            self._skip = length
        stop = end - PyBytes_GET_SIZE(self._partial)
        if stop > start:  # (all of it untouched: the input object itself, no copy)
            items.append(data if start == 0 and stop == end else data[start:stop])
        return items

    cdef Py_ssize_t _window_run(self, const unsigned char *p, Py_ssize_t pos, Py_ssize_t end,
                                list items) except -1:
        """Cut out the run of valid WINDOW_UPDATE frames at ``pos`` as one item.

        See ``fasth2._speedups_py.FrameScanner._window_run``.
        """
        cdef unsigned long stream_ids[WINDOW_RUN_STREAMS]
        cdef unsigned long long totals[WINDOW_RUN_STREAMS]
        cdef int streams = 0, frames = 0, k
        cdef Py_ssize_t tiny = 0
        cdef unsigned long stream_id, increment
        cdef list pairs = []
        memset(totals, 0, sizeof(totals))
        while end - pos >= 13 and frames < WINDOW_RUN_FRAMES:
            if p[pos] or p[pos + 1] or p[pos + 2] != 4 or p[pos + 3] != 0x8 or p[pos + 9] & 0x80:
                break
            increment = _u31(p + pos + 9)  # (its reserved bit is 0: checked above)
            if increment == 0:
                break
            stream_id = _u31(p + pos + 5)
            k = _stream_slot(stream_ids, &streams, WINDOW_RUN_STREAMS, stream_id)
            if k < 0:
                break
            totals[k] += increment
            if increment < TINY_WINDOW_UPDATE:
                tiny += 1
            frames += 1
            pos += 13
        for k in range(streams):
            pairs.append((<object>stream_ids[k], <object>totals[k]))
        items.append((0x8, 0, tiny, pairs))
        return pos

    cdef Py_ssize_t _priority_run(self, const unsigned char *p, Py_ssize_t pos, Py_ssize_t end,
                                  list items) except -1:
        """Cut out the run of valid PRIORITY frames at ``pos`` as one item.

        See ``fasth2._speedups_py.FrameScanner._priority_run``.
        """
        cdef unsigned long stream_ids[WINDOW_RUN_STREAMS]
        cdef unsigned long depends[WINDOW_RUN_STREAMS]
        cdef unsigned char weights[WINDOW_RUN_STREAMS]
        cdef bint exclusive[WINDOW_RUN_STREAMS]
        cdef int streams = 0, frames = 0, k
        cdef unsigned long stream_id, depends_on
        cdef list entries = []
        while end - pos >= 14 and frames < WINDOW_RUN_FRAMES:
            if p[pos] or p[pos + 1] or p[pos + 2] != 5 or p[pos + 3] != 0x2:
                break
            stream_id = _u31(p + pos + 5)
            depends_on = _u31(p + pos + 9)
            if stream_id == 0 or depends_on == stream_id:
                break
            k = _stream_slot(stream_ids, &streams, WINDOW_RUN_STREAMS, stream_id)
            if k < 0:
                break
            depends[k] = depends_on
            weights[k] = p[pos + 13]
            exclusive[k] = p[pos + 9] >> 7
            frames += 1
            pos += 14
        for k in range(streams):
            entries.append((<object>stream_ids[k], <object>depends[k], <int>weights[k] + 1,
                            True if exclusive[k] else False))
        items.append((0x2, 0, frames, entries))
        return pos

    cdef Py_ssize_t _data_run(self, bytes data, const unsigned char *p, Py_ssize_t pos,
                              Py_ssize_t end, list items) except -1:
        """Cut out the run of whole, non-empty DATA frames at ``pos``: one item per stream.

        See ``fasth2._speedups_py.FrameScanner._data_run``.
        """
        cdef unsigned long stream_ids[RUN_STREAMS]
        cdef unsigned char flag_sets[RUN_STREAMS]
        cdef Py_ssize_t starts[RUN_FRAMES]
        cdef Py_ssize_t lengths[RUN_FRAMES]
        cdef int owners[RUN_FRAMES]
        cdef int streams = 0, frames = 0, k, f
        cdef Py_ssize_t length, run_bytes = 0
        cdef bint copy
        cdef unsigned char flags
        cdef unsigned long stream_id
        cdef list payloads
        cdef object view
        memset(flag_sets, 0, sizeof(flag_sets))
        while end - pos >= 9 and frames < RUN_FRAMES:
            length = (<Py_ssize_t>p[pos] << 16) | (<Py_ssize_t>p[pos + 1] << 8) | p[pos + 2]
            flags = p[pos + 4]
            stream_id = _u31(p + pos + 5)
            if (p[pos + 3] != 0x0 or flags & 0x28 or length == 0
                    or length > self._max_frame_size or stream_id == 0 or end - pos < 9 + length):
                break
            k = _stream_slot(stream_ids, &streams, RUN_STREAMS, stream_id)
            if k < 0 or flag_sets[k] & 0x1:  # full, or END_STREAM already seen
                break
            flag_sets[k] |= flags
            starts[frames] = pos + 9
            lengths[frames] = length
            owners[frames] = k
            run_bytes += length
            frames += 1
            pos += 9 + length
        # Views keep the read alive: a run under half of it is copied (see the twin).
        copy = 2 * run_bytes < end
        view = memoryview(data)
        for k in range(streams):
            payloads = []
            for f in range(frames):
                if owners[f] != k:
                    continue
                if copy:
                    payloads.append(PyBytes_FromStringAndSize(<const char *>p + starts[f],
                                                              lengths[f]))
                else:
                    payloads.append(view[starts[f]:starts[f] + lengths[f]])
            items.append((0x0, <object>stream_ids[k], <object>flag_sets[k], payloads))
        return pos


# Bits for the pseudo-headers seen in one header block.
cdef enum:
    P_METHOD = 1
    P_SCHEME = 2
    P_AUTHORITY = 4
    P_PATH = 8
    P_STATUS = 16
    P_PROTOCOL = 32


cdef int _pseudo_bit(bytes name):
    if name == b":method":
        return P_METHOD
    if name == b":scheme":
        return P_SCHEME
    if name == b":authority":
        return P_AUTHORITY
    if name == b":path":
        return P_PATH
    if name == b":status":
        return P_STATUS
    if name == b":protocol":
        return P_PROTOCOL
    return 0


cdef void _check_field(bytes name, bytes value) except *:
    """Characters of one field (RFC 9113 §8.2.1), as h2 checks them."""
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(name)
    cdef Py_ssize_t i, n = PyBytes_GET_SIZE(name)
    cdef unsigned char c
    if n == 0:
        raise MalformedHeaders("empty header name")
    for i in range(n):
        c = p[i]
        if 0x41 <= c <= 0x5A:
            raise MalformedHeaders(f"uppercase header name {name!r}")
        if c <= 0x20 or c >= 0x7F:
            raise MalformedHeaders(f"invalid character in header name {name!r}")
        if c == 0x3A and i > 0:
            raise MalformedHeaders(f"invalid ':' in header name {name!r}")
    p = <const unsigned char *>PyBytes_AS_STRING(value)
    n = PyBytes_GET_SIZE(value)
    if n == 0:
        return
    for i in range(n):
        c = p[i]
        if c == 0 or c == 0x0A or c == 0x0D:
            raise MalformedHeaders(f"invalid character in the value of {name!r}")
    if p[0] == 0x20 or p[0] == 0x09 or p[n - 1] == 0x20 or p[n - 1] == 0x09:
        raise MalformedHeaders(f"whitespace around the value of {name!r}")


def validate_request_headers(list headers, bint trailers=False):
    """Raise MalformedHeaders unless a request (or trailer) header block is well-formed;
    return its ``priority`` field (None without one).

    See ``fasth2._speedups_py.validate_request_headers`` for the full contract.
    """
    cdef int seen = 0, bit
    cdef bint seen_regular = False
    cdef object method = None, authority = None, host = None, priority = None
    cdef bytes name, value
    cdef object pair
    for pair in headers:
        name = <bytes>pair[0]
        value = <bytes>pair[1]
        _check_field(name, value)
        if PyBytes_AS_STRING(name)[0] == b':':
            bit = _pseudo_bit(name)
            if bit and seen & bit:
                raise MalformedHeaders(f"duplicate pseudo-header {name!r}")
            if seen_regular:
                raise MalformedHeaders(f"pseudo-header {name!r} after regular headers")
            if not bit:
                raise MalformedHeaders(f"unknown pseudo-header {name!r}")
            seen |= bit
            if bit == P_METHOD:
                method = value
            elif bit == P_AUTHORITY:
                authority = value
            elif bit == P_PATH and PyBytes_GET_SIZE(value) == 0 and not trailers:
                raise MalformedHeaders("empty :path")
            continue
        seen_regular = True
        if name == b"te" and value.lower() != b"trailers":
            raise MalformedHeaders(f"te header with value {value!r}")
        if name in HOP_BY_HOP:
            raise MalformedHeaders(f"connection-specific header {name!r}")
        if not trailers and name == b"host":
            if host is not None:
                raise MalformedHeaders("several Host headers")
            host = value
        elif name == b"priority":
            priority = value if priority is None else priority + b", " + value
    if trailers:
        if seen:
            raise MalformedHeaders("pseudo-headers in trailers")
        return None
    if not seen & P_METHOD:
        raise MalformedHeaders("missing :method")
    connect = method == b"CONNECT"
    if connect and not seen & P_PROTOCOL:
        if seen & (P_SCHEME | P_PATH):
            raise MalformedHeaders("CONNECT with :scheme or :path")
    elif not seen & P_SCHEME or not seen & P_PATH:
        raise MalformedHeaders("missing :scheme or :path")
    if seen & P_STATUS:
        raise MalformedHeaders(":status in a request")
    if not connect and seen & P_PROTOCOL:
        raise MalformedHeaders(":protocol outside CONNECT")
    if authority is None and host is None:
        raise MalformedHeaders("neither :authority nor Host")
    if authority is not None and host is not None and authority != host:
        raise MalformedHeaders(":authority and Host differ")
    return priority


def informational_response(list headers):
    """h2's ``is_informational_response`` for a received block of byte pairs (see the
    twin)."""
    cdef bytes name, value
    for pair in headers:
        name = pair[0]
        if name is None:
            raise TypeError("header names are bytes")
        if PyBytes_GET_SIZE(name) == 0 or PyBytes_AS_STRING(name)[0] != b':':
            return False
        if name == b":status":
            value = pair[1]
            if value is None:
                raise TypeError("header values are bytes")
            return PyBytes_GET_SIZE(value) > 0 and PyBytes_AS_STRING(value)[0] == b'1'
    return False


def declared_content_length(list headers):
    """h2's ``H2Stream._initialize_content_length`` for a received request (see the
    twin): the content-length, None without one, ValueError for a bad one."""
    cdef object length = None, parsed, name, value
    for pair in headers:
        name = pair[0]
        if type(name) is bytes:  # (the usual case: no Python comparison per field)
            if PyBytes_GET_SIZE(name) != 14 or memcmp(PyBytes_AS_STRING(name), b"content-length", 14):
                continue
        elif name != b"content-length":
            continue
        value = pair[1]
        parsed = _digits_value(value) if type(value) is bytes else None
        if parsed is None:  # not short plain digits: Python's rules decide
            if value is None or not value.isdigit():
                raise ValueError(f"Invalid content-length header: {value!r}")
            parsed = int(value, 10)
        if length is None:
            length = parsed
        elif parsed != length:
            raise ValueError(f"Conflicting content-length headers: {length} and {parsed}")
    return length


cdef object _digits_value(bytes value):
    """The number ``value`` spells in 1 to 18 ASCII digits; None for anything else."""
    cdef Py_ssize_t size = PyBytes_GET_SIZE(value), i
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(value)
    cdef long long number = 0
    if size < 1 or size > 18:
        return None
    for i in range(size):
        if p[i] < 48 or p[i] > 57:  # (b"0", b"9")
            return None
        number = number * 10 + (p[i] - 48)
    return number


FRAMING_LENGTH, FRAMING_CHUNKED, FRAMING_CLOSE = 0, 1, 2
cdef dict _REASONS = {status.value: status.phrase.encode("latin-1") for status in HTTPStatus}


cdef inline char *_put(char *target, bytes data) noexcept:
    """Copy ``data`` to ``target``; the position after it."""
    cdef Py_ssize_t size = PyBytes_GET_SIZE(data)
    memcpy(target, PyBytes_AS_STRING(data), size)
    return target + size


cdef inline char *_put_field(char *target, bytes name, bytes value) noexcept:
    """``name: value`` and CRLF at ``target``; the position after it."""
    target = _put(target, name)
    target[0] = b':'
    target[1] = b' '
    target = _put(target + 2, value)
    target[0] = b'\r'
    target[1] = b'\n'
    return target + 2


# Reason phrases by status code, for an index instead of a dict lookup of an int.
cdef list _REASON_BY_CODE = [_REASONS.get(code, b"Unknown") for code in range(600)]


cdef inline tuple _as_pair(object item):
    """A header as a tuple (the usual case, as it is), unpacked as ``a, b = item`` is."""
    if type(item) is tuple:
        return <tuple>item
    name, value = item
    return (name, value)


cdef inline bint _three_digits(bytes status):
    cdef const unsigned char *s = <const unsigned char *>PyBytes_AS_STRING(status)
    return (PyBytes_GET_SIZE(status) == 3 and b'0' <= s[0] <= b'9' and b'0' <= s[1] <= b'9'
            and b'0' <= s[2] <= b'9')


cdef inline bint _default_wanted(bytes name, bint has_date, bint has_server):
    """A default field (Date, Server) goes out unless the app gave its own."""
    return not (has_date and name == b"date" or has_server and name == b"server")


def http1_response_head(list headers, list defaults, bint no_body, str version,
                        bint keep_alive, bytes body not None=b""):
    """An HTTP/1.x response head (followed by ``body`` unless chunked) and its body's
    framing (see the twin). Measured once, then copied into one bytes object: no
    concatenation per field, nor for the body."""
    cdef bytes status = headers[0][1], reason, name, value, tail = b""
    cdef int code = 0
    cdef bint has_length = False, has_date = False, has_server = False
    cdef int framing = 0
    cdef Py_ssize_t i, count = len(headers), size
    cdef tuple pair
    cdef char *out
    if _three_digits(status):  # (read in place: int() and a dict lookup cost 1,000)
        code = (PyBytes_AS_STRING(status)[0] - 48) * 100 + \
            (PyBytes_AS_STRING(status)[1] - 48) * 10 + (PyBytes_AS_STRING(status)[2] - 48)
        reason = <bytes>_REASON_BY_CODE[code] if code < 600 else b"Unknown"
    else:  # as the twin reads it
        number = int(status)
        reason = _REASONS.get(number, b"Unknown")
        code = number if number == 204 or number == 304 else 0
    size = 9 + PyBytes_GET_SIZE(status) + 1 + PyBytes_GET_SIZE(reason) + 2
    for i in range(1, count):
        pair = _as_pair(headers[i])
        name = pair[0]
        value = pair[1]
        if name == b"content-length":
            has_length = True
        elif name == b"date":
            has_date = True
        elif name == b"server":
            has_server = True
        size += PyBytes_GET_SIZE(name) + PyBytes_GET_SIZE(value) + 4
    for item in defaults:
        pair = _as_pair(item)
        name = pair[0]
        value = pair[1]
        if _default_wanted(name, has_date, has_server):
            size += PyBytes_GET_SIZE(name) + PyBytes_GET_SIZE(value) + 4
    if not (no_body or code == 204 or code == 304 or has_length):
        if version == "1.1":
            framing = 1
            tail = b"transfer-encoding: chunked\r\n"
        else:
            framing = 2
            keep_alive = False
    if not keep_alive:
        tail = b"transfer-encoding: chunked\r\nconnection: close\r\n" if framing == 1 \
            else b"connection: close\r\n"
    elif version == "1.0":
        tail = b"connection: keep-alive\r\n"
    size += PyBytes_GET_SIZE(tail) + 2
    if framing == 1:  # chunked: the caller frames the body
        body = b""
    size += PyBytes_GET_SIZE(body)
    cdef bytes block = PyBytes_FromStringAndSize(NULL, size)
    out = PyBytes_AS_STRING(block)
    memcpy(out, b"HTTP/1.1 ", 9)
    out = _put(out + 9, status)
    out[0] = b' '
    out = _put(out + 1, reason)
    out[0] = b'\r'
    out[1] = b'\n'
    out += 2
    for i in range(1, count):
        pair = _as_pair(headers[i])
        out = _put_field(out, <bytes>pair[0], <bytes>pair[1])
    for item in defaults:
        pair = _as_pair(item)
        if _default_wanted(<bytes>pair[0], has_date, has_server):
            out = _put_field(out, <bytes>pair[0], <bytes>pair[1])
    out = _put(out, tail)
    out[0] = b'\r'
    out[1] = b'\n'
    _put(out + 2, body)
    return block, framing


def h2_response_fields(list headers, list defaults):
    """An HTTP/2 response head's fields with the defaults the app did not give, and its
    ``priority`` values (see the twin)."""
    cdef bint has_date = False, has_server = False
    cdef list priorities = None
    cdef list result
    cdef bytes name
    for name, value in headers:
        if name == b"date":
            has_date = True
        elif name == b"server":
            has_server = True
        elif name == b"priority":
            if priorities is None:
                priorities = []
            priorities.append(value)
    result = list(headers)
    for field in defaults:
        if _default_wanted(field[0], has_date, has_server):
            result.append(field)
    return result, priorities


cdef inline void _write_frame_header(unsigned char *target, Py_ssize_t size, unsigned char kind,
                                     unsigned char flags, unsigned int stream_id):
    """The 9-byte frame header (RFC 9113 §4.1) at ``target``."""
    target[0] = (size >> 16) & 0xFF
    target[1] = (size >> 8) & 0xFF
    target[2] = size & 0xFF
    target[3] = kind
    target[4] = flags
    target[5] = (stream_id >> 24) & 0x7F
    target[6] = (stream_id >> 16) & 0xFF
    target[7] = (stream_id >> 8) & 0xFF
    target[8] = stream_id & 0xFF


def frame_data(unsigned int stream_id, bytes data, Py_ssize_t start, Py_ssize_t length,
               Py_ssize_t max_frame_size, bint end_stream):
    """``data[start:start + length]`` as DATA frames of at most ``max_frame_size``.

    See ``fasth2._speedups_py.frame_data`` for the full contract.
    """
    cdef Py_ssize_t frames, total, size, position, stop
    cdef const char *source = PyBytes_AS_STRING(data)
    cdef bytes out
    cdef unsigned char *target
    if start < 0 or length < 0 or start + length > PyBytes_GET_SIZE(data) or max_frame_size < 1:
        raise ValueError("frame_data: slice outside the data, or bad frame size")
    frames = (length + max_frame_size - 1) // max_frame_size if length else 1
    total = length + 9 * frames
    out = PyBytes_FromStringAndSize(NULL, total)
    target = <unsigned char *>PyBytes_AS_STRING(out)
    position = start
    stop = start + length
    while True:
        size = stop - position
        if size > max_frame_size:
            size = max_frame_size
        _write_frame_header(target, size, 0x0, 1 if (end_stream and position + size >= stop) else 0,
                            stream_id)
        memcpy(target + 9, source + position, size)
        target += 9 + size
        position += size
        if position >= stop:
            return out


def data_frames(unsigned int stream_id, bytes data, Py_ssize_t start, Py_ssize_t length,
                Py_ssize_t max_frame_size, bint end_stream):
    """The frames of ``frame_data`` as pieces: 9-byte headers and memoryview payloads.

    See ``fasth2._speedups_py.data_frames`` for the full contract.
    """
    cdef Py_ssize_t size, position, stop
    cdef list pieces = []
    cdef object view = memoryview(data)
    cdef bytes header
    cdef unsigned char *target
    if start < 0 or length < 0 or start + length > PyBytes_GET_SIZE(data) or max_frame_size < 1:
        raise ValueError("data_frames: slice outside the data, or bad frame size")
    position = start
    stop = start + length
    while True:
        size = stop - position
        if size > max_frame_size:
            size = max_frame_size
        header = PyBytes_FromStringAndSize(NULL, 9)
        target = <unsigned char *>PyBytes_AS_STRING(header)
        _write_frame_header(target, size, 0x0, 1 if (end_stream and position + size >= stop) else 0,
                            stream_id)
        pieces.append(header)
        if size:
            pieces.append(view[position:position + size])
        position += size
        if position >= stop:
            return pieces


def frame_headers(unsigned int stream_id, bytes block, Py_ssize_t max_frame_size,
                  bint end_stream):
    """An HPACK ``block`` as one HEADERS frame plus CONTINUATIONs, ready to write.

    See ``fasth2._speedups_py.frame_headers`` for the full contract.
    """
    cdef Py_ssize_t length = PyBytes_GET_SIZE(block), frames, size, position = 0
    cdef const char *source = PyBytes_AS_STRING(block)
    cdef bytes out
    cdef unsigned char *target
    cdef unsigned char kind = 0x1, flags = 0x1 if end_stream else 0
    if max_frame_size < 1:
        raise ValueError("frame_headers: bad frame size")
    frames = (length + max_frame_size - 1) // max_frame_size if length else 1
    out = PyBytes_FromStringAndSize(NULL, length + 9 * frames)
    target = <unsigned char *>PyBytes_AS_STRING(out)
    while True:
        size = length - position
        if size > max_frame_size:
            size = max_frame_size
        _write_frame_header(target, size, kind, flags | (0x4 if position + size >= length else 0),
                            stream_id)
        memcpy(target + 9, source + position, size)
        target += 9 + size
        position += size
        if position >= length:
            return out
        kind = 0x9
        flags = 0


cdef extern from "Python.h":
    int _PyBytes_Resize(PyObject **string, Py_ssize_t size) except -1


cdef class ReadBuffer:
    """Where the transport reads into; each read comes out as its own bytes object.

    See ``fasth2._speedups_py.ReadBuffer`` for the contract. Here the transport writes
    straight into a fresh, not yet shared bytes object, which ``take`` trims to the
    bytes read: no copy (the default read path copies every read once).
    """

    cdef object _data  # the bytes object the transport writes into, until taken
    cdef Py_ssize_t _size

    def __init__(self):
        self._data = None
        self._size = 0

    def prepare(self, Py_ssize_t size):
        """A writable buffer of ``size`` bytes for the next read (this object)."""
        self._data = PyBytes_FromStringAndSize(NULL, size)
        self._size = size
        return self

    def __getbuffer__(self, Py_buffer *view, int flags):
        if self._data is None:
            raise BufferError("ReadBuffer: prepare() first")
        PyBuffer_FillInfo(view, self, PyBytes_AS_STRING(self._data), self._size, 0, flags)

    def __releasebuffer__(self, Py_buffer *view):
        pass

    def take(self, Py_ssize_t count):
        """The ``count`` bytes just read, as bytes."""
        cdef object data = self._data
        cdef PyObject *raw
        if data is None or not 0 <= count <= self._size:
            raise ValueError("ReadBuffer.take: nothing prepared, or a bad count")
        self._data = None
        if count == self._size:
            return data
        if count < 1024:  # small: a copy costs less than keeping the big block
            return PyBytes_FromStringAndSize(PyBytes_AS_STRING(data), count)
        # Resizing needs the only reference: move ours into ``raw``.
        raw = <PyObject *>data
        Py_INCREF(data)
        data = None
        _PyBytes_Resize(&raw, count)  # trims in place (realloc); never shared before
        data = <object>raw
        Py_DECREF(data)  # ``data`` now owns what ``raw`` held
        return data


include "_hpack.pxi"


cdef extern from "pythread.h":
    PyLockStatus PyThread_acquire_lock_timed(PyThread_type_lock lock, long long microseconds,
                                             int intr_flag) nogil


cdef class Lock:
    """threading.Lock, whose ``acquire`` and ``release`` are C calls from the compiled
    twins (see the twin in _speedups_py.py): threading's parse their arguments, a few
    hundred instructions a call, and ``with`` looks up two bound methods besides."""

    def __cinit__(self):
        self._handle = PyThread_allocate_lock()
        if self._handle is NULL:
            raise MemoryError("cannot allocate a lock")

    def __dealloc__(self):
        if self._handle is not NULL:
            if self._locked:  # (freeing a held lock is undefined on some platforms)
                PyThread_release_lock(self._handle)
            PyThread_free_lock(self._handle)

    cpdef bint acquire(self, bint blocking=True, double timeout=-1) except -1:
        """Take the lock (``blocking`` False: only if free; ``timeout``: seconds at
        most, -1 for no limit); True if taken."""
        cdef PyLockStatus status
        cdef long long microseconds
        if not blocking and timeout != -1:
            raise ValueError("can't specify a timeout for a non-blocking call")
        if timeout < 0 and timeout != -1:
            raise ValueError("timeout value must be a non-negative number")
        # Uncontended (the usual case): no release of the GIL.
        if PyThread_acquire_lock(self._handle, NOWAIT_LOCK):
            self._locked = True
            return True
        if not blocking:
            return False
        microseconds = -1 if timeout < 0 else <long long>(timeout * 1e6)
        with nogil:  # (its holder may need the GIL to let go of it)
            status = PyThread_acquire_lock_timed(self._handle, microseconds, 0)
        if status == PY_LOCK_ACQUIRED:
            self._locked = True
            return True
        return False

    cpdef release(self):
        """Let go of the lock; RuntimeError if it is not held."""
        if not self._locked:
            raise RuntimeError("release unlocked lock")
        self._locked = False
        PyThread_release_lock(self._handle)

    def locked(self):
        """True while the lock is held."""
        return self._locked

    def __enter__(self):
        self.acquire()
        return True

    def __exit__(self, *exc_info):
        self.release()
