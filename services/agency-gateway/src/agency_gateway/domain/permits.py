"""Which call permit a partner's reported call may go by.

A partner's call is an attempt on the bank's contact ledger only if the bank's
contact policy allowed it first: a ``call-attempt`` or ``contact`` activity names the
permit the gateway obtained from the notifier for that placement, and one permit
covers one call. Other activities are not calls and name no permit.
"""

from __future__ import annotations

from dataclasses import dataclass

NEEDS_PERMIT = frozenset({"call-attempt", "contact"})


@dataclass(frozen=True, slots=True)
class Permit:
    permit_id: str
    partner_id: str
    placement_id: str
    customer_id: str | None  # None for permits issued before the gateway kept it
    decision: str
    rule: str | None
    used_by: str | None  # the activity that already went by it


@dataclass(frozen=True, slots=True)
class Placement:
    placement_id: str
    partner_id: str
    customer_id: str


@dataclass(frozen=True, slots=True)
class PermitRefusal:
    """Why an activity may not go by the permit it names; ``conflict`` when the permit
    exists but does not cover this call (as opposed to a request that is wrong in itself)."""

    reason: str
    detail: str
    conflict: bool


def check_permit(kind: str, permit_id: str | None, permit: Permit | None,
                 placement: Placement) -> PermitRefusal | None:
    if kind not in NEEDS_PERMIT:
        if permit_id is not None:
            return PermitRefusal("permit-not-expected", f"a {kind} is not a call and names no permit_id", False)
        return None
    if permit_id is None:
        return PermitRefusal("permit-required", f"a {kind} needs the permit_id of the call permit it went by", False)
    if permit is None or permit.partner_id != placement.partner_id:
        return PermitRefusal("unknown-permit", "no call permit with this permit_id was granted to you", False)
    if permit.customer_id is not None and permit.customer_id != placement.customer_id:
        return PermitRefusal("permit-for-another-customer", "the permit was granted for another customer", True)
    if permit.placement_id != placement.placement_id:
        return PermitRefusal("permit-for-another-placement", "the permit was granted for another placement", True)
    if permit.decision != "allow":
        rule = f" by the rule {permit.rule}" if permit.rule else ""
        return PermitRefusal("permit-refused", f"the contact policy answered {permit.decision}{rule}: "
                                               "the call was not allowed", True)
    if permit.used_by is not None:
        return PermitRefusal("permit-used", f"the permit already covers activity {permit.used_by}; "
                                            "ask for a permit for each call", True)
    return None
