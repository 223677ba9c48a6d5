"""The collection strategy: a versioned YAML file the business edits.

A strategy is an ordered list of rules. Each rule names the stage it puts the
case in, the conditions it matches on (DPD, bucket, amounts, segment, variant,
contact history, promise and plan status) and the actions it takes. Rules are
read top-down and the first that matches fires (see ``ladder.decide_day``).

Every error names the file, the line and the field, so an operations analyst can
fix a strategy without reading Python:

    strategies/default.yaml:41: rules[3].actions[0].collectors: Input should be greater than or equal to 2
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from functools import cached_property
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

RULE_ID = r"^[a-z0-9][a-z0-9.\-]{0,62}$"


class Stage(IntEnum):
    """The ladder, lowest first; the numbers match collections.v1.Stage."""

    REMINDER = 1
    EARLY = 2
    LETTER = 3
    FIELD = 4
    AGENCY = 5
    LEGAL = 6

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def of(cls, label: str) -> Stage:
        return _STAGES[label]


_STAGES = {stage.name.lower(): stage for stage in Stage}


BUCKETS = ("M0", "M1", "M2", "M3", "M4", "M5", "M6", "M7+")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(_Model):
    """Inclusive bounds; an absent bound is open."""

    min: int | None = None
    max: int | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self

    def holds(self, value: int) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


class Conditions(_Model):
    dpd: Range | None = None
    buckets: tuple[Literal["M0", "M1", "M2", "M3", "M4", "M5", "M6", "M7+"], ...] | None = None
    past_due_minor: Range | None = None
    balance_minor: Range | None = None
    segments: tuple[str, ...] | None = None
    variants: tuple[str, ...] | None = None
    # Matches when the last right-party contact is at least this many days ago (or never happened).
    no_right_party_contact_days: int | None = Field(default=None, ge=1)
    promises_broken: Range | None = None
    plan: Literal["none", "active", "broken", "completed"] | None = None
    # An agency or law firm handed the case back unresolved.
    returned_by_agency: bool | None = None


class Contact(_Model):
    kind: Literal["contact"]
    channel: Literal["sms", "email", "letter"]
    template: str = Field(min_length=1, max_length=80)
    purpose: str = Field(default="collection", min_length=1, max_length=40)
    # Absent: once per case. Otherwise again every N days while the rule keeps firing.
    every_days: int | None = Field(default=None, ge=1)


class CallTask(_Model):
    kind: Literal["call-task"]
    queue: str = Field(min_length=1, max_length=40)
    priority: int = Field(default=5, ge=1, le=9)
    every_days: int | None = Field(default=None, ge=1)


class FieldVisit(_Model):
    kind: Literal["field-visit"]
    queue: str = Field(default="field", min_length=1, max_length=40)
    # Field visits are made by at least two collectors (DESIGN.md §6, CN pack).
    collectors: int = Field(default=2, ge=2, le=4)


class AgencyPlacement(_Model):
    kind: Literal["agency-placement"]
    expires_after_days: int = Field(default=90, ge=1, le=365)


class LegalReferral(_Model):
    kind: Literal["legal-referral"]
    expires_after_days: int = Field(default=180, ge=1, le=730)


class CreditPreNotice(_Model):
    kind: Literal["credit-pre-notice"]
    channel: Literal["sms", "email", "letter"] = "letter"
    template: str = Field(default="credit-pre-notice.letter", min_length=1, max_length=80)


class CreditReport(_Model):
    kind: Literal["credit-report"]


class FollowUp(_Model):
    kind: Literal["follow-up"]
    queue: str = Field(default="follow-up", min_length=1, max_length=40)
    after_days: int = Field(default=30, ge=1, le=365)


Action = Annotated[
    Contact | CallTask | FieldVisit | AgencyPlacement | LegalReferral | CreditPreNotice | CreditReport | FollowUp,
    Field(discriminator="kind"),
]
# Actions that move a case further than a reminder or a call: never while a hold is active.
ESCALATING = frozenset({"field-visit", "agency-placement", "legal-referral", "credit-report"})
# Actions done at most once per case whichever rule asks for them (so a case that skipped
# the field stage still gets its one credit-bureau pre-notice at the agency stage).
ONCE_PER_CASE = frozenset({"agency-placement", "legal-referral", "credit-pre-notice", "credit-report"})


class Rule(_Model):
    id: str = Field(pattern=RULE_ID)
    stage: Literal["reminder", "early", "letter", "field", "agency", "legal"]
    when: Conditions = Conditions()
    actions: tuple[Action, ...] = ()

    @cached_property
    def stage_level(self) -> Stage:
        # Read for every rule of every day's decision: worked out once per rule.
        return Stage.of(self.stage)


class Variant(_Model):
    name: str = Field(pattern=RULE_ID)
    weight: int = Field(ge=0, le=10_000)


class Humane(_Model):
    """Numbers of the humane rules (人性化); every one is configurable."""

    promise_tolerance_days: int = Field(default=3, ge=0, le=30)
    promise_max_days: int = Field(default=30, ge=1, le=180)
    plan_grace_days: int = Field(default=5, ge=0, le=30)
    hardship_review_days: int = Field(default=30, ge=1, le=180)
    breathing_space_days: int = Field(default=60, ge=1, le=180)
    credit_pre_notice_wait_days: int = Field(default=14, ge=1, le=90)
    follow_up_after_days: int = Field(default=30, ge=1, le=365)
    specialist_queue: str = Field(default="specialist", min_length=1, max_length=40)
    hardship_queue: str = Field(default="hardship", min_length=1, max_length=40)


class Strategy(_Model):
    id: str = Field(pattern=RULE_ID)
    version: int = Field(ge=1)
    variants: tuple[Variant, ...] = (Variant(name="champion", weight=1),)
    humane: Humane = Humane()
    rules: tuple[Rule, ...] = Field(min_length=1)

    @field_validator("variants")
    @classmethod
    def _variants(cls, variants: tuple[Variant, ...]) -> tuple[Variant, ...]:
        names = [v.name for v in variants]
        if not variants or len(set(names)) != len(names):
            raise ValueError("variants need at least one entry and unique names")
        if sum(v.weight for v in variants) == 0:
            raise ValueError("at least one variant needs a weight above 0")
        return variants

    @model_validator(mode="after")
    def _references(self) -> Strategy:
        seen: set[str] = set()
        names = {v.name for v in self.variants}
        for index, rule in enumerate(self.rules):
            if rule.id in seen:
                raise _At(("rules", index, "id"), f"rule id {rule.id!r} is used twice")
            seen.add(rule.id)
            unknown = set(rule.when.variants or ()) - names
            if unknown:
                raise _At(("rules", index, "when", "variants"), f"unknown variants {sorted(unknown)}")
        return self

    def variant_of(self, account_id: str) -> str:
        """Champion/challenger split by a stable hash of the account id: the same account
        lands in the same variant on every run, process and restart (no random state)."""
        total = sum(v.weight for v in self.variants)
        digest = hashlib.sha256(f"{self.id}:{account_id}".encode()).digest()
        point = int.from_bytes(digest[:8], "big") % total
        for variant in self.variants:
            if point < variant.weight:
                return variant.name
            point -= variant.weight
        raise AssertionError("weights sum to total")


class _At(ValueError):
    """A cross-field error that knows which field it is about."""

    def __init__(self, location: tuple, message: str) -> None:
        super().__init__(message)
        self.location, self.message = location, message


class StrategyError(ValueError):
    """Every problem of a strategy file, each as ``file:line: field: message``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load_strategy(path: Path | str) -> Strategy:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise StrategyError([f"{path}:0: (file): {error.strerror}"]) from None
    return parse_strategy(text, str(path))


def parse_strategy(text: str, name: str = "<strategy>") -> Strategy:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        raise StrategyError([f"{name}:{line}: (syntax): {getattr(error, 'problem', error)}"]) from None
    if not isinstance(data, dict):
        raise StrategyError([f"{name}:1: (document): a strategy is a mapping with id, version and rules"])
    lines = dict(_lines(root, ()))
    try:
        return Strategy.model_validate(data)
    except ValidationError as error:
        found = []
        for item in error.errors():
            location, message = tuple(item["loc"]), item["msg"]
            cause = (item.get("ctx") or {}).get("error")
            if isinstance(cause, _At):
                location, message = location + cause.location, cause.message
            found.append((location, message))
        # A list whose items failed also reports itself as too short: the items say why.
        deepest = [(loc, msg) for loc, msg in found
                   if not any(other != loc and other[:len(loc)] == loc for other, _ in found)]
        raise StrategyError([_problem(name, lines, loc, msg) for loc, msg in deepest]) from None


def _problem(name: str, lines: dict[tuple, int], location: tuple, message: str) -> str:
    # Pydantic adds union tags (e.g. "contact") to locations: keep only real YAML paths.
    path: tuple = ()
    for part in location:
        if path + (part,) in lines:
            path += (part,)
    field = _field(path, location)
    return f"{name}:{lines.get(path, 1)}: {field}: {message.removeprefix('Value error, ')}"


def _field(path: tuple, location: tuple) -> str:
    # The YAML path, plus the missing key when the error is about an absent field.
    parts = list(path)
    if location and location[-1] not in path and isinstance(location[-1], str) and len(location) > len(path):
        parts.append(location[-1])
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".") or "(document)"


def _lines(node: yaml.Node, path: tuple) -> Iterator[tuple[tuple, int]]:
    yield path, node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = path + (key.value,)
            yield child, key.start_mark.line + 1
            for inner, line in _lines(value, child):
                if inner != child:
                    yield inner, line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _lines(item, path + (index,))


DEFAULT_STRATEGY = Path(__file__).resolve().parent.parent / "strategies" / "default.yaml"
