"""Outbox header packing: every header list survives the text column unchanged."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collections_core.outbox import _pack_headers, _unpack_headers

CLOUD_EVENT = [("ce_specversion", b"1.0"), ("ce_id", b"a1b2-17"), ("ce_type", b"collections.v1.AccountCured"),
               ("ce_subject", b"ACC-0001"), ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]


def test_cloud_event_headers_take_the_compact_form():
    packed = _pack_headers(CLOUD_EVENT)
    assert not packed.startswith("[")
    assert _unpack_headers(packed) == CLOUD_EVENT


@pytest.mark.parametrize("headers", [
    [], [("a", b"")], [("ce_id", b"x\x1ey")], [("k\x1f", b"v")], [("k", b"\x1d")], [("k", b"nul\x00")],
    [("bin", bytes(range(256)))], [("null", None)], [("ce_id", b"a"), ("baggage", None), ("x", b"\x00")],
])
def test_awkward_headers_round_trip_and_never_hold_a_nul(headers):
    packed = _pack_headers(headers)
    assert "\x00" not in packed
    assert _unpack_headers(packed) == headers


def test_rows_written_as_json_before_the_compact_form_still_read():
    assert _unpack_headers('[["ce_id", "abc"], ["x", "\\u00ff"]]') == [("ce_id", b"abc"), ("x", b"\xff")]


@given(st.lists(st.tuples(st.text(max_size=12), st.none() | st.binary(max_size=24)), max_size=10))
def test_any_headers_round_trip(headers):
    packed = _pack_headers(headers)
    assert "\x00" not in packed
    assert _unpack_headers(packed) == headers
