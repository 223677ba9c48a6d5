"""Partners as the bank registers them: terms, webhook, OAuth client.

A client secret is shown once, when it is issued, and stored only as a salted
scrypt hash; the webhook signing secret is sealed like PII because the gateway
must read it back to sign.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml
from sqlalchemy import insert, select, update

from agency_gateway.cipher import Keyring
from agency_gateway.tables import partners

PARTNER_SCOPES = ("placements:read", "placements:write", "activities:write", "calls:write")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, dklen=32, **_SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def secret_matches(secret: str, stored: str) -> bool:
    try:
        scheme, salt, digest = stored.split("$")
    except ValueError:
        return False
    candidate = hashlib.scrypt(secret.encode(), salt=base64.b64decode(salt), dklen=32, **_SCRYPT)
    return scheme == "scrypt" and hmac.compare_digest(candidate, base64.b64decode(digest))


@dataclass(frozen=True)
class PartnerTerms:
    partner_id: str
    name: str
    kind: str
    regions: tuple[str, ...]
    capacity: int
    commission_bps: int
    contract_id: str
    webhook_url: str | None = None
    scopes: tuple[str, ...] = PARTNER_SCOPES
    rate_limit_per_second: int = 20
    client_secret: str | None = None  # given only by a seed file; otherwise generated
    webhook_secret: str | None = None


@dataclass(frozen=True)
class IssuedCredentials:
    client_id: str
    client_secret: str
    webhook_secret: str | None


async def register(connection, keyring: Keyring, terms: PartnerTerms, now: datetime) -> IssuedCredentials:
    client_secret = terms.client_secret or secrets.token_urlsafe(32)
    webhook_secret = terms.webhook_secret or (secrets.token_urlsafe(32) if terms.webhook_url else None)
    client_id = terms.partner_id
    await connection.execute(insert(partners).values(
        partner_id=terms.partner_id, name=terms.name, kind=terms.kind, regions=",".join(terms.regions),
        capacity=terms.capacity, commission_bps=terms.commission_bps, contract_id=terms.contract_id,
        webhook_url=terms.webhook_url,
        webhook_secret=keyring.seal(webhook_secret, terms.partner_id) if webhook_secret else None,
        client_id=client_id, client_secret_hash=hash_secret(client_secret), scopes=" ".join(terms.scopes),
        rate_limit_per_second=terms.rate_limit_per_second, status="active", created_at=now, updated_at=now))
    return IssuedCredentials(client_id, client_secret, webhook_secret)


async def rotate_client_secret(connection, partner_id: str, now: datetime) -> str:
    client_secret = secrets.token_urlsafe(32)
    await connection.execute(update(partners).where(partners.c.partner_id == partner_id).values(
        client_secret_hash=hash_secret(client_secret), updated_at=now))
    return client_secret


async def load_seed(connection, keyring: Keyring, path: Path, now: datetime) -> int:
    """Register the partners of a YAML seed file that are not registered yet (local runs)."""
    entries = yaml.safe_load(path.read_text())["partners"]
    known = set((await connection.execute(select(partners.c.partner_id))).scalars())
    added = 0
    for entry in entries:
        if entry["partner_id"] in known:
            continue
        entry = {**entry, "regions": tuple(entry["regions"]), "scopes": tuple(entry.get("scopes", PARTNER_SCOPES))}
        await register(connection, keyring, PartnerTerms(**entry), now)
        added += 1
    return added
