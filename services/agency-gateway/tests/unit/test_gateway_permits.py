"""Which call permit a partner's reported call may go by."""

import pytest
from agency_gateway.domain.permits import Permit, Placement, check_permit

HERE = Placement("PL-1", "AG-1", "C-1")


def permit(**changes) -> Permit:
    terms = dict(permit_id="PM-1", partner_id="AG-1", placement_id="PL-1", customer_id="C-1", decision="allow",
                 rule=None, used_by=None)
    return Permit(**{**terms, **changes})


@pytest.mark.parametrize("kind", ["call-attempt", "contact"])
def test_a_call_goes_by_an_allowed_unused_permit_for_its_placement(kind):
    assert check_permit(kind, "PM-1", permit(), HERE) is None
    assert check_permit(kind, "PM-1", permit(customer_id=None), HERE) is None  # kept before the customer was


@pytest.mark.parametrize(("kind", "permit_id", "found", "reason", "conflict"), [
    ("call-attempt", None, None, "permit-required", False),
    ("contact", "PM-9", None, "unknown-permit", False),
    ("contact", "PM-1", permit(partner_id="AG-2"), "unknown-permit", False),  # another partner's is not shown
    ("call-attempt", "PM-1", permit(customer_id="C-2", placement_id="PL-2"), "permit-for-another-customer", True),
    ("call-attempt", "PM-1", permit(placement_id="PL-2"), "permit-for-another-placement", True),
    ("contact", "PM-1", permit(decision="block", rule="cease-contact"), "permit-refused", True),
    ("contact", "PM-1", permit(decision="defer", rule="quiet-hours"), "permit-refused", True),
    ("call-attempt", "PM-1", permit(used_by="ACT-1"), "permit-used", True),
    ("note", "PM-1", permit(), "permit-not-expected", False),
])
def test_a_call_without_a_good_permit_is_refused_with_the_reason(kind, permit_id, found, reason, conflict):
    refusal = check_permit(kind, permit_id, found, HERE)
    assert (refusal.reason, refusal.conflict) == (reason, conflict)


def test_the_refusal_names_the_policy_rule():
    refusal = check_permit("contact", "PM-1", permit(decision="block", rule="cease-contact"), HERE)
    assert "block" in refusal.detail and "cease-contact" in refusal.detail


@pytest.mark.parametrize("kind", ["field-visit", "promise-to-pay", "dispute", "hardship", "note"])
def test_activities_that_are_not_calls_need_no_permit(kind):
    assert check_permit(kind, None, None, HERE) is None
