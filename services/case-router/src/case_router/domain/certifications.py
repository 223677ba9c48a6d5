"""Staff training gates work (强化催收人员培训): an agent works cases only while a
certification is current.

A certification is current on a day when it was passed on or before that day and
expires after it (the expiry day itself is the first day without it). An agent whose
every certification has lapsed is refused new tasks, with the course and the day it
lapsed, so the desk can say why and a supervisor knows what to renew. An agent with
no record at all is not judged here: records are brought in agent by agent, and
refusing everyone on the day the gate ships would stop the desk (decision 0090).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class Certification:
    course: str
    passed_on: date
    expires_on: date

    def current_on(self, day: date) -> bool:
        return self.passed_on <= day < self.expires_on


@dataclass(frozen=True, slots=True)
class Lapsed:
    """Why an agent may not take work: the certification that expired last."""

    course: str
    expired_on: date


def lapsed_certification(records: list[Certification], today: date) -> Lapsed | None:
    """None when the agent may work (a current certification, or no records yet)."""
    if not records or any(record.current_on(today) for record in records):
        return None
    latest = max(records, key=lambda record: (record.expires_on, record.course))
    return Lapsed(latest.course, latest.expires_on)
