"""The partner's minimum PII view, and webhook signatures."""

import dataclasses

from agency_gateway.domain.pii import CustomerRecord, PartnerCaseView, PostalAddress, minimum_view
from agency_gateway.domain.webhook import delivered, retry_delay_seconds, signature, verify
from collections_core.money import Money
from hypothesis import given
from hypothesis import strategies as st

ADDRESS = PostalAddress(("1 Nanjing Road",), "Shanghai", "SH", "200001", "CN")


def test_the_partner_view_carries_only_name_phone_address_amount_and_dpd():
    customer = CustomerRecord("C-1", "Li Wei", "+8613800138000", ADDRESS)
    view = minimum_view(customer, Money(100, "CNY"), 95)
    assert [f.name for f in dataclasses.fields(PartnerCaseView)] == ["name", "phone", "address", "amount", "dpd"]
    assert (view.name, view.phone, view.address, view.dpd) == ("Li Wei", "+8613800138000", ADDRESS, 95)
    assert view.fields_shared == ("name", "phone", "address")


def test_without_a_customer_record_the_view_shares_no_pii():
    view = minimum_view(None, Money(100, "CNY"), 95)
    assert view.fields_shared == () and view.amount == Money(100, "CNY")


SECRET = "whsec-test"


def test_a_signed_body_verifies_within_the_window_and_not_after():
    body = b'{"type":"placement.created"}'
    signed = signature(SECRET, 1_700_000_000, body)
    assert signed.startswith("v1=") and len(signed) == 3 + 64
    assert verify(SECRET, "1700000000", signed, body, now=1_700_000_100)
    assert not verify(SECRET, "1700000000", signed, body, now=1_700_000_301)  # replayed later
    assert not verify(SECRET, "1700000000", signed, body + b" ", now=1_700_000_000)  # body changed
    assert not verify("other", "1700000000", signed, body, now=1_700_000_000)  # other secret
    assert not verify(SECRET, "1700000001", signed, body, now=1_700_000_000)  # timestamp changed
    assert not verify(SECRET, "soon", signed, body, now=1_700_000_000)


@given(st.binary(max_size=200), st.integers(0, 2**40))
def test_signature_round_trip(body, timestamp):
    assert verify(SECRET, str(timestamp), signature(SECRET, timestamp, body), body, now=timestamp)


def test_retry_backoff_doubles_up_to_an_hour():
    assert [retry_delay_seconds(n) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert retry_delay_seconds(30) == 3600 and retry_delay_seconds(10_000) == 3600
    assert delivered(204) and not delivered(302) and not delivered(500)
