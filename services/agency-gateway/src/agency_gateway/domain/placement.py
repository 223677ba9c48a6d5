"""Choosing a partner for a placement, and the placement's life.

Eligibility comes first: a partner must be active, of the kind the case needs (a
collection agency for 委外催收, a law firm for 法律途径), cover the case's region
(or ``*``, everywhere) and have room under its capacity (open placements only count).

Among the eligible, the champion is the partner with the best trailing recovery
rate (money recovered over money placed with it inside the window, ties broken by
partner id so the choice is reproducible). A stable share of placements — chosen by
a hash of the placement id, so a redelivered request lands in the same arm — goes to
a challenger instead: one of the other eligible partners, again picked by hash. The
challenger arm is how a new partner with no history earns a recovery rate at all.

A placement is open while ``placed`` or ``acknowledged``. It ends when the partner
returns it, when the bank recalls it (cure, dispute, hardship, complaint, operations)
or when its term runs out (``expired``, after ``expires_on``). Once it has ended the
partner loses access to it: the API answers 410 Gone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction

from collections_core.money import Money

KINDS = ("agency", "legal")
OPEN = frozenset({"placed", "acknowledged"})
ENDED = frozenset({"returned", "recalled"})
RECALL_REASONS = ("cured", "dispute", "hardship", "complaint", "operations", "expired")
EVERYWHERE = "*"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A partner as placement sees it: its terms and its trailing performance."""

    partner_id: str
    kind: str
    regions: frozenset[str]
    capacity: int
    open_placements: int
    placed_minor: int = 0
    recovered_minor: int = 0
    active: bool = True

    @property
    def recovery_rate(self) -> Fraction:
        return Fraction(self.recovered_minor, self.placed_minor) if self.placed_minor > 0 else Fraction(0)


@dataclass(frozen=True, slots=True)
class CaseToPlace:
    placement_id: str
    kind: str
    region: str
    amount: Money


@dataclass(frozen=True, slots=True)
class Placed:
    partner_id: str
    arm: str  # "champion" or "challenger"
    rule: str  # why this partner, for the placement's record


@dataclass(frozen=True, slots=True)
class Unplaced:
    reason: str


def bucket_of(placement_id: str, buckets: int = 100) -> int:
    """A stable number in [0, buckets) for a placement id (same id, same bucket, on every run)."""
    digest = hashlib.sha256(placement_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % buckets


def eligible(case: CaseToPlace, candidate: Candidate) -> bool:
    return (candidate.active and candidate.kind == case.kind
            and (case.region in candidate.regions or EVERYWHERE in candidate.regions)
            and candidate.open_placements < candidate.capacity)


def choose_partner(case: CaseToPlace, candidates: list[Candidate], challenger_percent: int) -> Placed | Unplaced:
    if not 0 <= challenger_percent <= 100:
        raise ValueError("challenger_percent is a share in [0, 100]")
    ranked = sorted((c for c in candidates if eligible(case, c)),
                    key=lambda c: (-c.recovery_rate, c.partner_id))
    if not ranked:
        return Unplaced(f"no active {case.kind} partner covering region {case.region!r} has capacity")
    champion, others = ranked[0], ranked[1:]
    if others and bucket_of(case.placement_id) < challenger_percent:
        challenger = others[bucket_of("challenger:" + case.placement_id, len(others))]
        return Placed(challenger.partner_id, "challenger",
                      f"challenger split {challenger_percent}%: {challenger.partner_id} instead of "
                      f"champion {champion.partner_id}")
    return Placed(champion.partner_id, "champion",
                  f"best trailing recovery rate {float(champion.recovery_rate):.4f} of {len(ranked)} eligible")


def expires_on(placed_on: date, term_days: int, requested: date | None = None) -> date:
    """The router may ask for an earlier end; the gateway's term is the longest a partner keeps a case."""
    if term_days < 1:
        raise ValueError("a placement term is at least one day")
    longest = placed_on + timedelta(days=term_days)
    return min(requested, longest) if requested is not None else longest


def has_expired(expiry: date, today: date) -> bool:
    """A placement may be worked through its last day and is taken back the day after."""
    return today > expiry


@dataclass(frozen=True, slots=True)
class Recall:
    reason: str


@dataclass(frozen=True, slots=True)
class NothingToRecall:
    status: str


def decide_recall(status: str, reason: str) -> Recall | NothingToRecall:
    """A recall is honoured whatever its stated reason (taking a case back is always
    safe); a placement that has already ended stays as it ended."""
    if status in OPEN:
        return Recall(reason)
    return NothingToRecall(status)


def recall_reason_label(reason: str) -> str:
    """Metrics and reports group unknown reasons under ``other`` to keep labels bounded."""
    return reason if reason in RECALL_REASONS else "other"
