"""What staff see of a customer's contact details before anyone reveals them.

A mask keeps just enough to recognise the customer on the line, and no more: the
family name (the first character: 王小明 → 王**), the phone number's first three
and last four digits of a mainland mobile (+8613812345678 → +86138****5678: the four
before the last four are hidden, the bank's usual 138****5678 form), an e-mail's
first letter and domain, and an address's city and region without its street lines
or postal code. A value too short to keep anything is hidden whole.
"""

from __future__ import annotations

import json

FIELDS = ("name", "phone", "email", "address")


def mask_name(name: str) -> str:
    return name[:1] + "".join(" " if c == " " else "*" for c in name[1:]) if len(name) > 1 else "*" * len(name)


def mask_phone(phone: str) -> str:
    if len(phone) <= 8:
        return "*" * len(phone)
    return phone[:-8] + "****" + phone[-4:]


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def address_parts(stored: str) -> dict:
    """The address as core banking sent it (street lines, city, region, postal code, country)."""
    try:
        parts = json.loads(stored) if stored else {}
    except ValueError:
        parts = {"lines": [stored]}
    return parts if isinstance(parts, dict) else {"lines": [str(parts)]}


def address_in_full(parts: dict) -> str:
    return ", ".join(part for part in (*parts.get("lines", []), parts.get("city"), parts.get("region"),
                                       parts.get("postal_code"), parts.get("country")) if part)


def mask_address(parts: dict) -> str:
    kept = [part for part in (parts.get("city"), parts.get("region"), parts.get("country")) if part]
    hidden = any(parts.get("lines", [])) or bool(parts.get("postal_code"))
    return ", ".join((["****"] if hidden else []) + kept) or "****"


def masked(details: dict[str, str | None]) -> dict[str, str | None]:
    """Each field of ``details`` (clear name, phone, e-mail; the address as stored) masked, None when empty."""
    shown = {}
    for field, value in details.items():
        if field == "address":
            parts = address_parts(value or "")
            shown[field] = mask_address(parts) if address_in_full(parts) else None
        else:
            shown[field] = {"name": mask_name, "phone": mask_phone, "email": mask_email}[field](value) if value else None
    return shown


def in_full(details: dict[str, str | None]) -> dict[str, str | None]:
    """Each field in clear (the address on one line), None when empty."""
    return {field: (address_in_full(address_parts(value or "")) if field == "address" else value) or None
            for field, value in details.items()}
