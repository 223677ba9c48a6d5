"""PII at rest: AES-256-GCM with the key id stored beside every value.

A stored value reads ``<key id>:<base64(nonce ‖ ciphertext ‖ tag)>``. The customer
id and the field name are the associated data, so a value copied into another
row or column fails to decrypt instead of showing the wrong person's phone.
Rotation adds a new active key and re-encrypts rows in batches; old keys stay
readable until no row names them. Lookups by phone or e-mail use a keyed hash
(HMAC-SHA256 under its own key), never the clear value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class UnknownKey(Exception):
    """A stored value names a key id this service was not given."""


class PiiCipher:
    def __init__(self, keys: Mapping[str, bytes], active_key_id: str, lookup_key: bytes) -> None:
        if active_key_id not in keys:
            raise ValueError(f"active key {active_key_id!r} is not among the configured keys")
        if any(len(key) != 32 for key in keys.values()):
            raise ValueError("PII keys are 32 bytes (AES-256)")
        if ":" in "".join(keys):
            raise ValueError("a key id must not contain ':'")
        self._aeads = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.active_key_id = active_key_id
        self._lookup_key = lookup_key

    @classmethod
    def from_settings(cls, keys: Mapping[str, str], active_key_id: str, lookup_key: str) -> PiiCipher:
        return cls({key_id: base64.b64decode(key) for key_id, key in keys.items()}, active_key_id,
                   base64.b64decode(lookup_key))

    def encrypt(self, clear: str, owner: str, field: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aeads[self.active_key_id].encrypt(nonce, clear.encode(), f"{owner}/{field}".encode())
        return f"{self.active_key_id}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, stored: str, owner: str, field: str) -> str:
        key_id, _, payload = stored.partition(":")
        try:
            aead = self._aeads[key_id]
        except KeyError:
            raise UnknownKey(key_id) from None
        raw = base64.b64decode(payload)
        return aead.decrypt(raw[:12], raw[12:], f"{owner}/{field}".encode()).decode()

    def needs_rotation(self, stored: str) -> bool:
        return not stored.startswith(f"{self.active_key_id}:")

    def rotate(self, stored: str, owner: str, field: str) -> str:
        return self.encrypt(self.decrypt(stored, owner, field), owner, field)

    def lookup_hash(self, value: str) -> str:
        normalised = value.strip().lower()
        return hmac.new(self._lookup_key, normalised.encode(), hashlib.sha256).hexdigest()

