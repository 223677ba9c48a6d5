"""PII at rest: AES-256-GCM with a key id stored beside every value.

A stored value reads ``<kid>:<nonce>:<ciphertext>`` (URL-safe base64), so keys can
be rotated: new values use the first configured key, old ones stay readable while
their key is still configured. The row's own id is bound in as associated data, so
a ciphertext copied onto another customer's row does not decrypt.
"""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from collections_core.logs import get_logger

log = get_logger(__name__)
# For local runs and tests only: production configures GATEWAY_PII_KEYS.
_DEVELOPMENT_KEY = "dev:" + base64.urlsafe_b64encode(b"card-collections-dev-pii-key-32b").decode()


class Keyring:
    def __init__(self, spec: str | None) -> None:
        if not spec:
            log.warning("no GATEWAY_PII_KEYS configured: PII is encrypted with the public development key")
            spec = _DEVELOPMENT_KEY
        self._keys: dict[str, AESGCM] = {}
        for item in spec.split(","):
            kid, _, encoded = item.strip().partition(":")
            key = base64.urlsafe_b64decode(encoded)
            if not kid or len(key) != 32:
                raise ValueError("each PII key is 'kid:base64' of 32 bytes")
            self._keys[kid] = AESGCM(key)
        self.active = spec.split(",")[0].strip().partition(":")[0]

    def seal(self, plaintext: str, bound_to: str) -> str:
        nonce = os.urandom(12)
        sealed = self._keys[self.active].encrypt(nonce, plaintext.encode(), bound_to.encode())
        return ":".join((self.active, _b64(nonce), _b64(sealed)))

    def open(self, stored: str, bound_to: str) -> str:
        kid, nonce, sealed = stored.split(":")
        return self._keys[kid].decrypt(_unb64(nonce), _unb64(sealed), bound_to.encode()).decode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
