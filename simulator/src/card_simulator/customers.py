"""What reaches the simulated customers, and what they do about it.

Customers learn of the bank only through the stand-ins' delivery logs
(deploy/local/local_standins.py): an SMS at their phone, an e-mail at their address, a
letter under its request id. ``DeliveryLogs`` reads the logs as they grow; ``react``
decides, purely, what each delivery makes the customer do.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from card_simulator.audit import Delivery
from card_simulator.population import Account, Segment

CHANNEL_LOGS = {"sms": "sms.jsonl", "email": "email.jsonl", "letter": "letters.jsonl"}


@dataclass(frozen=True, slots=True)
class Received:
    """One delivery, with the accounts whose customer it reached (none for a letter:
    the print vendor's log names the request, not the addressee)."""

    delivery: Delivery
    accounts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Reaction:
    account_id: str
    kind: str  # "reached" (the bank's reminder was read) | "stop" (reply STOP from this phone)
    phone: str = ""


def _request_id(channel: str, entry: dict) -> str:
    if channel == "sms":
        return entry["reference"]
    if channel == "email":  # Message-ID: <request id@notifier.card-collections>
        return entry["message_id"].strip("<>").split("@", 1)[0]
    return entry["key"]


class DeliveryLogs:
    """Reads the stand-ins' logs incrementally, keeping everything read for the audit."""

    def __init__(self, folder: Path, portfolio: list[Account]) -> None:
        self.folder = folder
        self.by_phone: dict[str, list[str]] = defaultdict(list)
        self.by_email: dict[str, list[str]] = defaultdict(list)
        for account in portfolio:
            self.by_phone[account.customer.phone].append(account.account_id)
            self.by_email[account.customer.email].append(account.account_id)
        self._offsets: dict[str, int] = {}
        self.received: list[Received] = []
        self.replies: list[dict] = []

    def size(self) -> int:
        return sum(path.stat().st_size for path in self.folder.glob("*.jsonl")) if self.folder.exists() else 0

    def read_new(self) -> list[Received]:
        new = []
        for channel, name in CHANNEL_LOGS.items():
            for entry in self._lines(name):
                delivery = Delivery(channel, datetime.fromisoformat(entry["at"]), _request_id(channel, entry),
                                    entry.get("template", ""))
                accounts = (self.by_phone.get(entry.get("to", ""), []) if channel == "sms"
                            else self.by_email.get(entry.get("to", ""), []) if channel == "email" else [])
                new.append(Received(delivery, tuple(accounts)))
        self.replies += self._lines("replies.jsonl")
        self.received += new
        return new

    def _lines(self, name: str) -> list[dict]:
        path = self.folder / name
        if not path.exists():
            return []
        with open(path, encoding="utf-8") as file:
            file.seek(self._offsets.get(name, 0))
            text = file.read()
        complete = text[:text.rfind("\n") + 1]  # a line still being written waits for the next read
        self._offsets[name] = self._offsets.get(name, 0) + len(complete.encode("utf-8"))
        return [json.loads(line) for line in complete.splitlines() if line]


def react(received: list[Received], accounts: dict[str, Account], stopped: set[str]) -> list[Reaction]:
    """Every delivery that reaches a customer counts as read; a customer of the opt-out
    segment replies STOP to the first SMS (``stopped`` holds the accounts that already did)."""
    reactions = []
    for item in received:
        for account_id in item.accounts:
            reactions.append(Reaction(account_id, "reached"))
            account = accounts[account_id]
            if (item.delivery.channel == "sms" and account.segment == Segment.OPTS_OUT
                    and account_id not in stopped):
                stopped.add(account_id)
                reactions.append(Reaction(account_id, "stop", account.customer.phone))
    return reactions



def opted_out_by_number(phones: set[str], portfolio: list[Account]) -> int:
    """Customers the notifier should hold opted out of SMS after STOP replies from
    ``phones``: a reply opts out its number, and with it every customer on that number
    (the drama ranges repeat numbers: the UK's every 1,000 customers)."""
    return len({account.customer_id for account in portfolio if account.customer.phone in phones})
