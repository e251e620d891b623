"""The compiled HPACK codec against RFC 7541's examples and the ``hpack`` package.

RFC 7541 Appendix C's examples run on both builds (the pure build's codec is the hpack
package itself). The differential tests feed the compiled codec and hpack the same
random header lists, table-size changes and garbage, and demand the same bytes, the same
headers and the same exception classes.
"""

from __future__ import annotations

import hpack
import pytest
from hpack import HPACKDecodingError, InvalidTableSizeError, OversizedHeaderListError
from hpack.struct import NeverIndexedHeaderTuple
from hypothesis import given, settings
from hypothesis import strategies as st

from fasth2 import _speedups_py

try:
    from fasth2 import _speedups as compiled
except ImportError:
    compiled = None

needs_compiled = pytest.mark.skipif(compiled is None, reason="not built")
IMPLEMENTATIONS = [pytest.param(_speedups_py, id="pure"),
                   pytest.param(compiled, id="compiled", marks=needs_compiled)]


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request):
    return request.param


# RFC 7541 C.3 (plain literals) and C.4 (Huffman): three requests on one connection.
REQUESTS = [
    [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"),
     (b":authority", b"www.example.com")],
    [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"),
     (b":authority", b"www.example.com"), (b"cache-control", b"no-cache")],
    [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/index.html"),
     (b":authority", b"www.example.com"), (b"custom-key", b"custom-value")],
]
PLAIN_BLOCKS = [
    "828684410f7777772e6578616d706c652e636f6d",
    "828684be58086e6f2d6361636865",
    "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
]
HUFFMAN_BLOCKS = [
    "828684418cf1e3c2e5f23a6ba0ab90f4ff",
    "828684be5886a8eb10649cbf",
    "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
]


@pytest.mark.parametrize("blocks", [PLAIN_BLOCKS, HUFFMAN_BLOCKS], ids=["plain", "huffman"])
def test_rfc_request_examples_decode(impl, blocks):
    decoder = impl.HpackDecoder()
    for block, expected in zip(blocks, REQUESTS):
        assert decoder.decode(bytes.fromhex(block), raw=True) == expected


def test_rfc_request_examples_encode(impl):
    """hpack, and so ours, Huffman-codes every literal: C.4 byte for byte."""
    encoder = impl.HpackEncoder()
    assert [encoder.encode(headers).hex() for headers in REQUESTS] == HUFFMAN_BLOCKS


def test_text_mode_and_never_indexed(impl):
    encoder, decoder = impl.HpackEncoder(), impl.HpackDecoder()
    block = encoder.encode([(":path", "/ü"), ("authorization", "secret", True)])
    headers = decoder.decode(block)
    assert headers == [(":path", "/ü"), ("authorization", "secret")]
    assert isinstance(headers[1], NeverIndexedHeaderTuple)
    assert not isinstance(headers[0], NeverIndexedHeaderTuple)
    # Sensitive headers stay out of the table: the second time is a literal again.
    assert encoder.encode([("authorization", "secret", True)])[0] & 0xF0 == 0x10


# -- errors, on both builds ------------------------------------------------------------

BAD_BLOCKS = {
    "index 0": ("80", HPACKDecodingError),
    "index past the table": ("be", HPACKDecodingError),
    "truncated integer": ("ff", HPACKDecodingError),
    "integer too long": ("ff" + "ff" * 6 + "01", HPACKDecodingError),
    "truncated string": ("4003616263", HPACKDecodingError),
    "truncated name": ("4005ab", HPACKDecodingError),
    "Huffman padding over 7 bits": ("0081ff00", HPACKDecodingError),
    "padding of zeros": ("00818000", HPACKDecodingError),
    "EOS in Huffman": ("0084ffffffff00", HPACKDecodingError),
    "table size above the limit": ("3fe21f", InvalidTableSizeError),
    "table size update after a header": ("823f00", HPACKDecodingError),
}


@pytest.mark.parametrize("case", sorted(BAD_BLOCKS))
def test_bad_blocks_raise_hpacks_errors(impl, case):
    block, error = BAD_BLOCKS[case]
    with pytest.raises(error):
        impl.HpackDecoder().decode(bytes.fromhex(block), raw=True)


def test_header_list_limit(impl):
    decoder = impl.HpackDecoder(max_header_list_size=100)
    small = hpack.Encoder().encode([(b"a", b"x" * 60)])
    assert decoder.decode(small, raw=True) == [(b"a", b"x" * 60)]
    with pytest.raises(OversizedHeaderListError):
        decoder.decode(hpack.Encoder().encode([(b"a", b"x" * 70)]), raw=True)


def test_table_size_must_shrink_to_the_allowed_maximum(impl):
    decoder = impl.HpackDecoder()
    decoder.max_allowed_table_size = 100
    with pytest.raises(InvalidTableSizeError):
        decoder.decode(b"\x82", raw=True)  # the table is still 4096
    assert decoder.decode(bytes.fromhex("3f4582"), raw=True) == [(b":method", b"GET")]
    assert decoder.header_table_size == 100


# -- differential: the compiled codec against hpack -------------------------------------

STATIC_NAMES = [b":authority", b":method", b":path", b":status", b"accept", b"cookie",
                b"content-type", b"content-length", b"user-agent", b"cache-control"]
names = st.one_of(st.sampled_from(STATIC_NAMES),
                  st.binary(min_size=0, max_size=12).map(lambda b: b.lower()))
values = st.one_of(st.sampled_from([b"", b"GET", b"/", b"200", b"gzip, deflate"]),
                   st.binary(max_size=40))
headers = st.tuples(names, values, st.booleans())
blocks = st.lists(headers, max_size=12)
# A table size change before a block (None: no change).
table_sizes = st.one_of(st.none(), st.sampled_from([0, 1, 64, 256, 4096]),
                        st.integers(0, 70000))


@needs_compiled
@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(table_sizes, blocks), max_size=8))
def test_encoder_and_decoder_match_hpack(sequence):
    ours_out, theirs_out = compiled.HpackEncoder(), hpack.Encoder()
    ours_in, theirs_in = compiled.HpackDecoder(), hpack.Decoder()
    for decoder in (ours_in, theirs_in):
        decoder.max_allowed_table_size = 70000
    previous = 4096
    for size, block in sequence:
        # hpack drops a change set twice to the same value (see _hpack.pxi): avoid it.
        if size is not None and size != previous:
            ours_out.header_table_size = theirs_out.header_table_size = size
            previous = size
        encoded = ours_out.encode(block)
        assert encoded == theirs_out.encode(block)
        decoded = ours_in.decode(encoded, raw=True)
        reference = theirs_in.decode(encoded, raw=True)
        assert decoded == reference == [(name, value) for name, value, _ in block]
        assert [type(h) is NeverIndexedHeaderTuple for h in decoded] == \
            [type(h) is NeverIndexedHeaderTuple for h in reference]


# Plain (name, value) pairs, as the server sends them: the encoder reuses the block of a
# head it encoded last if nothing in its table changed since (see _hpack.pxi).
pair_blocks = st.lists(st.tuples(names, values), max_size=8)
# How a block comes again: as the same list, an equal copy, with its fields made
# never-indexed, with one field changed, or not at all.
repeats = st.sampled_from(["same", "copy", "never-indexed", "changed", "none"])


@needs_compiled
@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(table_sizes, pair_blocks, repeats), max_size=10))
def test_encoder_repeats_match_hpack(sequence):
    """Heads encoded again (the repeat cache's case) encode exactly as hpack's do,
    whatever happened to the table in between."""
    ours, theirs = compiled.HpackEncoder(), hpack.Encoder()
    previous = 4096
    for size, block, repeat in sequence:
        if size is not None and size != previous:
            ours.header_table_size = theirs.header_table_size = size
            previous = size
        again = {"same": block, "copy": list(block),
                 "never-indexed": [NeverIndexedHeaderTuple(*field) for field in block],
                 "changed": block[:-1] + [(b"x-changed", b"1")],
                 "none": None}[repeat]
        for head in (block, block, again):
            if head is not None:
                assert ours.encode(head) == theirs.encode(head), (head, repeat)


@needs_compiled
@settings(max_examples=500, deadline=None)
@given(st.lists(st.binary(max_size=30), min_size=1, max_size=4))
def test_decoder_matches_hpack_on_garbage(chunks):
    """Random blocks in sequence: the same headers, or the same exception class."""
    ours, theirs = compiled.HpackDecoder(max_header_list_size=500), hpack.Decoder(500)
    for chunk in chunks:
        outcomes = []
        for decoder in (ours, theirs):
            try:
                outcomes.append(decoder.decode(chunk, raw=True))
            except HPACKDecodingError as exc:
                outcomes.append(type(exc))
        assert outcomes[0] == outcomes[1], chunk.hex()
        if isinstance(outcomes[0], type):
            break  # after an error the connection is gone; tables may differ


@needs_compiled
def test_signals_a_table_size_set_twice():
    """RFC 7541 §4.2: the change must be signalled even if set again to the same value."""
    encoder = compiled.HpackEncoder()
    encoder.header_table_size = 0
    encoder.header_table_size = 0
    assert encoder.encode([(b":status", b"200")]) == b"\x20\x88"
