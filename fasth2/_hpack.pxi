# HPACK (RFC 7541) in C: drop-in replacements for the ``hpack`` package's Encoder and
# Decoder, the objects h2 keeps as ``conn.encoder`` / ``conn.decoder``. Included by
# _speedups.pyx. The pure-Python twin is the ``hpack`` package itself.
#
# Same attributes h2 touches (header_table_size, max_header_list_size,
# max_allowed_table_size), same exception classes, and byte-identical encoder output
# (tests/test_hpack.py compares both on the package's own vectors and random headers).
# Differences, both deliberate: decoded headers are plain tuples (NeverIndexedHeaderTuple
# where the peer asked for it), and a table size set twice to the same new value before
# the next block is still signalled (hpack forgets it; RFC 7541 §4.2 requires it).

from libc.stdlib cimport free, malloc, realloc
from libc.stdint cimport int16_t, uint32_t, uint64_t

from hpack.exceptions import (HPACKDecodingError, InvalidTableIndex, InvalidTableSizeError,
                              OversizedHeaderListError)
# The RFC's constants (Appendix A static table, Appendix B Huffman code), as data.
from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH
from hpack.struct import HeaderTuple, NeverIndexedHeaderTuple
from hpack.table import HeaderTable

DEFAULT_TABLE_SIZE = 4096
DEFAULT_MAX_HEADER_LIST_SIZE = 65536
# Per-entry overhead in the table-size arithmetic (RFC 7541 §4.1).
cdef Py_ssize_t ENTRY_OVERHEAD = 32
# Static entries are indices 1..61; the newest dynamic entry is 62.
cdef Py_ssize_t STATIC_LENGTH = 61
# RFC 7541 leaves integer length open; like hpack we accept at most five continuation
# bytes (enough for any 32-bit value) and reject longer ones as an attack.
cdef int MAX_INTEGER_CONTINUATIONS = 5

cdef tuple _STATIC = tuple(tuple(entry) for entry in HeaderTable.STATIC_TABLE)
cdef dict _STATIC_EXACT = {}  # (name, value) -> index
cdef dict _STATIC_NAME = {}  # name -> lowest index with that name

cdef uint32_t _HUFFMAN_CODE[257]
cdef unsigned char _HUFFMAN_BITS[257]
# Decoding tree: node -> [child for bit 0, child for bit 1]; a child > 0 is a node,
# < 0 is a leaf holding -(symbol + 1), 0 is unused (the code is complete).
cdef int16_t _HUFFMAN_TREE[256][2]


cdef void _init_hpack_tables() except *:
    cdef int symbol, bit, node, nodes = 1, length
    cdef uint32_t code
    for index, entry in enumerate(_STATIC, 1):
        _STATIC_EXACT.setdefault(entry, index)
        _STATIC_NAME.setdefault(entry[0], index)
    for node in range(256):
        _HUFFMAN_TREE[node][0] = 0
        _HUFFMAN_TREE[node][1] = 0
    for symbol in range(257):
        code = REQUEST_CODES[symbol]
        length = REQUEST_CODES_LENGTH[symbol]
        _HUFFMAN_CODE[symbol] = code
        _HUFFMAN_BITS[symbol] = length
        node = 0
        for position in range(length - 1, -1, -1):
            bit = (code >> position) & 1
            if position == 0:
                _HUFFMAN_TREE[node][bit] = -(symbol + 1)
            else:
                if _HUFFMAN_TREE[node][bit] == 0:
                    _HUFFMAN_TREE[node][bit] = nodes
                    nodes += 1
                node = _HUFFMAN_TREE[node][bit]


_init_hpack_tables()


# ---- decoding ---------------------------------------------------------------------

cdef Py_ssize_t _read_integer(const unsigned char *p, Py_ssize_t end, Py_ssize_t *pos,
                              int prefix_bits) except -1:
    """An HPACK integer (RFC 7541 §5.1) at ``p[pos]``; advances ``pos`` past it."""
    cdef uint64_t value, mask = (1 << prefix_bits) - 1
    cdef unsigned char byte
    cdef int shift = 0, continuations = 0
    if pos[0] >= end:
        raise HPACKDecodingError("Unable to decode HPACK integer: block ends")
    value = p[pos[0]] & mask
    pos[0] += 1
    if value < mask:
        return <Py_ssize_t>value
    while True:
        if pos[0] >= end:
            raise HPACKDecodingError("Unable to decode HPACK integer: block ends")
        byte = p[pos[0]]
        pos[0] += 1
        continuations += 1
        value += (<uint64_t>(byte & 0x7F)) << shift
        if byte < 0x80:
            return <Py_ssize_t>value
        if continuations >= MAX_INTEGER_CONTINUATIONS:
            raise HPACKDecodingError("Variable integer representation is too long")
        shift += 7


cdef bytes _huffman_decode(const unsigned char *p, Py_ssize_t length):
    """Decode a Huffman string; EOS, or padding that is long or not all ones, is an error."""
    # Codes are at least 5 bits long: this bounds the output.
    cdef Py_ssize_t capacity = length * 8 // 5 + 1, count = 0, i
    cdef unsigned char *out
    cdef unsigned char byte
    cdef int node = 0, child, bit, pending = 0
    cdef bint pending_ones = True
    cdef unsigned char stack_buffer[256]
    if capacity <= 256:
        out = stack_buffer
    else:
        out = <unsigned char *>malloc(capacity)
    if out == NULL:
        raise MemoryError()
    try:
        for i in range(length):
            byte = p[i]
            for bit in range(7, -1, -1):
                child = _HUFFMAN_TREE[node][(byte >> bit) & 1]
                pending += 1
                if not (byte >> bit) & 1:
                    pending_ones = False
                if child > 0:
                    node = child
                    continue
                if child == 0 or child == -257:
                    raise HPACKDecodingError("Invalid Huffman string")
                out[count] = <unsigned char>(-child - 1)
                count += 1
                node = 0
                pending = 0
                pending_ones = True
        if pending > 7 or not pending_ones:
            raise HPACKDecodingError("Incomplete Huffman string")
        return PyBytes_FromStringAndSize(<char *>out, count)
    finally:
        if out != stack_buffer:
            free(out)


cdef bytes _read_string(const unsigned char *p, Py_ssize_t end, Py_ssize_t *pos):
    """A string literal (RFC 7541 §5.2) at ``p[pos]``; advances ``pos`` past it."""
    cdef bint huffman
    cdef Py_ssize_t length, start
    if pos[0] >= end:
        raise HPACKDecodingError("Truncated header block")
    huffman = p[pos[0]] & 0x80
    length = _read_integer(p, end, pos, 7)
    if length > end - pos[0]:
        raise HPACKDecodingError("Truncated header block")
    start = pos[0]
    pos[0] += length
    if huffman:
        return _huffman_decode(p + start, length)
    return PyBytes_FromStringAndSize(<const char *>p + start, length)


cdef class HpackDecoder:
    """Decodes HPACK header blocks; a drop-in for ``hpack.Decoder`` as h2 uses it."""

    #: Largest decoded header list (RFC 7541 §4.1 sizes) before OversizedHeaderListError.
    cdef public Py_ssize_t max_header_list_size
    #: Largest table size the peer may choose (our acknowledged SETTINGS_HEADER_TABLE_SIZE).
    cdef public Py_ssize_t max_allowed_table_size
    cdef list _entries  # newest first: the (name, value) tuples handed out
    cdef Py_ssize_t _size
    cdef Py_ssize_t _maxsize

    def __init__(self, Py_ssize_t max_header_list_size=DEFAULT_MAX_HEADER_LIST_SIZE):
        self.max_header_list_size = max_header_list_size
        self.max_allowed_table_size = DEFAULT_TABLE_SIZE
        self._entries = []
        self._size = 0
        self._maxsize = DEFAULT_TABLE_SIZE

    @property
    def header_table_size(self):
        """The dynamic table's current maximum size."""
        return self._maxsize

    @header_table_size.setter
    def header_table_size(self, Py_ssize_t value):
        self._resize(value)

    cdef void _resize(self, Py_ssize_t value):
        self._maxsize = value
        if value <= 0:
            self._entries.clear()
            self._size = 0
        else:
            self._shrink()

    cdef void _shrink(self):
        cdef tuple entry
        while self._size > self._maxsize:
            entry = <tuple>self._entries.pop()
            self._size -= ENTRY_OVERHEAD + len(<bytes>entry[0]) + len(<bytes>entry[1])

    cdef void _add(self, tuple entry):
        cdef Py_ssize_t size = ENTRY_OVERHEAD + len(<bytes>entry[0]) + len(<bytes>entry[1])
        if size > self._maxsize:
            self._entries.clear()
            self._size = 0
            return
        self._entries.insert(0, entry)
        self._size += size
        self._shrink()

    cdef tuple _entry(self, Py_ssize_t index):
        if 1 <= index <= STATIC_LENGTH:
            return <tuple>_STATIC[index - 1]
        index -= STATIC_LENGTH + 1
        if 0 <= index < len(self._entries):
            return <tuple>self._entries[index]
        raise InvalidTableIndex(f"Invalid table index {index + STATIC_LENGTH + 1}")

    def decode(self, data, bint raw=False):
        """Decode one complete header block into a list of (name, value) tuples.

        Byte strings when ``raw``, else UTF-8 text. Raises hpack's HPACKDecodingError
        family exactly where ``hpack.Decoder.decode`` does.
        """
        cdef bytes block = data if type(data) is bytes else bytes(data)
        cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(block)
        cdef Py_ssize_t end = PyBytes_GET_SIZE(block), pos = 0, index, inflated = 0
        cdef list headers = []
        cdef unsigned char first
        cdef bint indexing, never
        cdef bytes name, value
        cdef object header  # a tuple, or a NeverIndexedHeaderTuple (a subclass)
        while pos < end:
            first = p[pos]
            if first & 0x80:  # indexed field (§6.1)
                header = self._entry(_read_integer(p, end, &pos, 7))
            elif first & 0x20 and not first & 0x40:  # dynamic table size update (§6.3)
                if headers:
                    raise HPACKDecodingError("Table size update not at the start of the block")
                index = _read_integer(p, end, &pos, 5)
                if index > self.max_allowed_table_size:
                    raise InvalidTableSizeError("Encoder exceeded max allowable table size")
                self._resize(index)
                continue
            else:  # literal field (§6.2): with indexing, without, or never indexed
                indexing = first & 0x40
                never = not indexing and first & 0x10
                index = _read_integer(p, end, &pos, 6 if indexing else 4)
                if index:
                    name = <bytes>self._entry(index)[0]
                else:
                    name = _read_string(p, end, &pos)
                value = _read_string(p, end, &pos)
                if never:
                    header = NeverIndexedHeaderTuple(name, value)
                else:
                    header = (name, value)
                if indexing:
                    self._add(header)
            headers.append(header)
            inflated += ENTRY_OVERHEAD + len(<bytes>header[0]) + len(<bytes>header[1])
            if inflated > self.max_header_list_size:
                raise OversizedHeaderListError(
                    f"A header list larger than {self.max_header_list_size} has been received")
        if self._maxsize > self.max_allowed_table_size:
            raise InvalidTableSizeError("Encoder did not shrink table size to within the max")
        if raw:
            return headers
        try:
            return [_as_text(header) for header in headers]
        except UnicodeDecodeError as exc:
            raise HPACKDecodingError("Unable to decode headers as UTF-8") from exc


cdef object _as_text(object header):
    name = (<bytes>header[0]).decode("utf-8")
    value = (<bytes>header[1]).decode("utf-8")
    if type(header) is tuple:
        return (name, value)
    return NeverIndexedHeaderTuple(name, value)


# ---- encoding ---------------------------------------------------------------------

cdef struct _Output:
    unsigned char *data
    Py_ssize_t length
    Py_ssize_t capacity


cdef int _reserve(_Output *out, Py_ssize_t extra) except -1:
    cdef Py_ssize_t wanted = out.length + extra
    cdef unsigned char *grown
    if wanted <= out.capacity:
        return 0
    wanted = max(wanted, 2 * out.capacity)
    grown = <unsigned char *>realloc(out.data, wanted)
    if grown == NULL:
        raise MemoryError()
    out.data = grown
    out.capacity = wanted
    return 0


cdef int _write_integer(_Output *out, uint64_t value, int prefix_bits,
                        unsigned char flags) except -1:
    """Append an HPACK integer whose first byte carries ``flags`` above the prefix."""
    cdef uint64_t mask = (1 << prefix_bits) - 1
    _reserve(out, 11)
    if value < mask:
        out.data[out.length] = flags | <unsigned char>value
        out.length += 1
        return 0
    out.data[out.length] = flags | <unsigned char>mask
    out.length += 1
    value -= mask
    while value >= 0x80:
        out.data[out.length] = <unsigned char>((value & 0x7F) | 0x80)
        out.length += 1
        value >>= 7
    out.data[out.length] = <unsigned char>value
    out.length += 1
    return 0


cdef int _write_string(_Output *out, bytes text, bint huffman) except -1:
    """Append a string literal, Huffman-coded when asked (as hpack does, even if longer)."""
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(text)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(text), i, size
    cdef uint64_t bits = 0, pending = 0
    cdef int pending_bits = 0
    cdef unsigned char symbol
    if not huffman:
        _write_integer(out, n, 7, 0)
        _reserve(out, n)
        memcpy(out.data + out.length, p, n)
        out.length += n
        return 0
    for i in range(n):
        bits += _HUFFMAN_BITS[p[i]]
    size = <Py_ssize_t>((bits + 7) >> 3)
    _write_integer(out, size, 7, 0x80)
    _reserve(out, size)
    for i in range(n):
        symbol = p[i]
        pending = (pending << _HUFFMAN_BITS[symbol]) | _HUFFMAN_CODE[symbol]
        pending_bits += _HUFFMAN_BITS[symbol]
        while pending_bits >= 8:
            pending_bits -= 8
            out.data[out.length] = <unsigned char>(pending >> pending_bits)
            out.length += 1
    if pending_bits:
        # Pad with the most significant bits of EOS (all ones).
        out.data[out.length] = <unsigned char>((pending << (8 - pending_bits))
                                               | ((1 << (8 - pending_bits)) - 1))
        out.length += 1
    return 0


cdef bytes _as_bytes(object value):
    if type(value) is bytes:
        return <bytes>value
    if type(value) is not str:
        value = str(value)
    return (<str>value).encode("utf-8")


cdef class HpackEncoder:
    """Encodes header lists into HPACK blocks; a drop-in for ``hpack.Encoder``.

    Output is byte-identical to hpack's: the same table searches (static exact, dynamic
    exact, static name, dynamic name), incremental indexing of every literal that is
    not sensitive, Huffman coding of every literal.
    """

    cdef list _entries  # oldest first: (name, value, sequence number)
    cdef Py_ssize_t _first  # entries before this are evicted (compacted now and then)
    cdef dict _exact  # (name, value) -> sequence number
    cdef dict _names  # name -> newest sequence number with that name
    cdef Py_ssize_t _inserted  # sequence number of the next entry
    cdef Py_ssize_t _size
    cdef Py_ssize_t _maxsize
    cdef bint _resized
    #: Table sizes set since the last block, signalled at the start of the next one.
    cdef public list table_size_changes
    # The last block that was all indexed fields, and what it encoded: while the table
    # stays as it was (nothing inserted, evicted or resized since), an equal header list
    # encodes to the same bytes. A server's responses often repeat their head exactly.
    cdef list _repeat_headers
    cdef bytes _repeat_block
    cdef Py_ssize_t _repeat_inserted
    cdef bint _cleared  # the table was cleared during this block

    def __init__(self):
        self._entries = []
        self._first = 0
        self._exact = {}
        self._names = {}
        self._inserted = 0
        self._size = 0
        self._maxsize = DEFAULT_TABLE_SIZE
        self._resized = False
        self.table_size_changes = []
        self._repeat_headers = None

    @property
    def header_table_size(self):
        """The dynamic table's maximum size; a change is signalled in the next block."""
        return self._maxsize

    @header_table_size.setter
    def header_table_size(self, Py_ssize_t value):
        self._repeat_headers = None
        if value != self._maxsize:
            self._resized = True
            self.table_size_changes.append(value)
        self._maxsize = value
        if value <= 0:
            self._clear()
        else:
            self._shrink()

    cdef void _clear(self):
        self._repeat_headers = None
        self._cleared = True
        self._entries.clear()
        self._first = 0
        self._exact.clear()
        self._names.clear()
        self._size = 0

    cdef void _shrink(self):
        cdef tuple entry
        while self._size > self._maxsize:
            entry = <tuple>self._entries[self._first]
            self._first += 1
            self._size -= ENTRY_OVERHEAD + len(<bytes>entry[0]) + len(<bytes>entry[1])
            # Remove the lookups only where they still point at this (oldest) entry.
            if self._exact.get((entry[0], entry[1])) == entry[2]:
                del self._exact[(entry[0], entry[1])]
            if self._names.get(entry[0]) == entry[2]:
                del self._names[entry[0]]
        if self._first > 64 and self._first * 2 > len(self._entries):
            del self._entries[:self._first]
            self._first = 0

    cdef void _add(self, bytes name, bytes value):
        cdef Py_ssize_t size = ENTRY_OVERHEAD + len(name) + len(value)
        if size > self._maxsize:
            self._clear()
            return
        self._entries.append((name, value, self._inserted))
        self._exact[(name, value)] = self._inserted
        self._names[name] = self._inserted
        self._inserted += 1
        self._size += size
        self._shrink()

    cdef inline Py_ssize_t _dynamic_index(self, object sequence):
        return STATIC_LENGTH + self._inserted - <Py_ssize_t>sequence

    cdef int _encode_one(self, _Output *out, bytes name, bytes value, bint sensitive,
                         bint huffman) except -1:
        cdef object found
        cdef tuple key = (name, value)
        cdef Py_ssize_t name_index = 0
        found = _STATIC_EXACT.get(key)
        if found is None:
            found = self._exact.get(key)
            if found is not None:
                found = self._dynamic_index(found)
        if found is not None:  # indexed field
            _write_integer(out, <Py_ssize_t>found, 7, 0x80)
            return 0
        found = _STATIC_NAME.get(name)
        if found is None:
            found = self._names.get(name)
            if found is not None:
                name_index = self._dynamic_index(found)
        else:
            name_index = <Py_ssize_t>found
        if name_index:
            if sensitive:
                _write_integer(out, name_index, 4, 0x10)
            else:
                _write_integer(out, name_index, 6, 0x40)
        else:
            _reserve(out, 1)
            out.data[out.length] = 0x10 if sensitive else 0x40
            out.length += 1
            _write_string(out, name, huffman)
        _write_string(out, value, huffman)
        if not sensitive:
            self._add(name, value)
        return 0

    def encode(self, headers, bint huffman=True):
        """Encode a header list (pairs, (name, value, sensitive) triples, HeaderTuples
        or a dict) into one HPACK block, as ``hpack.Encoder.encode`` does."""
        cdef _Output out
        cdef bint sensitive
        cdef bint plain = type(headers) is list and huffman  # (the repeat cache's kind)
        cdef Py_ssize_t inserted = self._inserted
        cdef bytes block
        if (plain and self._repeat_headers is not None and inserted == self._repeat_inserted
                and not self._resized and headers == self._repeat_headers):
            # Equal fields that were all in the table still are: the same indexes. (An
            # equal list may hold never-indexed fields: found in the table, those are
            # sent indexed all the same, as _encode_one does.)
            return self._repeat_block
        out.data = NULL
        out.length = 0
        out.capacity = 0
        self._cleared = False
        if isinstance(headers, dict):
            headers = sorted(headers.items(), key=lambda item: not _as_bytes(item[0]).startswith(b":"))
        try:
            _reserve(&out, 256)
            if self._resized:
                plain = False
                for size in self.table_size_changes:
                    _write_integer(&out, size, 5, 0x20)
                self.table_size_changes = []
                self._resized = False
            for header in headers:
                if type(header) is tuple and len(<tuple>header) == 2:
                    name = (<tuple>header)[0]
                    value = (<tuple>header)[1]
                    if type(name) is bytes and type(value) is bytes:
                        self._encode_one(&out, <bytes>name, <bytes>value, False, huffman)
                        continue
                    sensitive = False
                elif type(header) is tuple:
                    sensitive = len(<tuple>header) > 2 and header[2]
                elif isinstance(header, HeaderTuple):
                    sensitive = not header.indexable
                else:
                    sensitive = len(header) > 2 and header[2]
                plain = False  # (only pairs of bytes make a block the repeat cache keeps)
                self._encode_one(&out, _as_bytes(header[0]), _as_bytes(header[1]), sensitive,
                                 huffman)
            block = PyBytes_FromStringAndSize(<char *>out.data, out.length)
            if plain and self._inserted == inserted and not self._cleared:
                # Nothing was added nor the table cleared: every field was found.
                self._repeat_headers = list(headers)
                self._repeat_block = block
                self._repeat_inserted = inserted
            return block
        finally:
            free(out.data)
