"""Partner access tokens: OAuth2 client credentials (RFC 6749 §4.4) issuing
short-lived ES256 JWTs (PyJWT), signing-key rotation and the JWKS that publishes them.

Signing keys live in the gateway's database (private halves sealed like PII), so
every instance signs and verifies with the same set. Rotation makes a new key the
signing key at once; the old one stays in the JWKS, and keeps verifying, until the
last token it signed has expired. Token lifetimes are judged on the wall clock,
never the business clock (as in ``collections_core.auth``).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from sqlalchemy import insert, or_, select, update

from agency_gateway.cipher import Keyring
from agency_gateway.settings import GatewaySettings
from agency_gateway.tables import signing_keys

ALGORITHM = "ES256"


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private_pem: str
    public_jwk: dict
    retired_at: datetime | None
    public_key: ec.EllipticCurvePublicKey


# A verified token's claims are kept (bounded) until it expires: a partner sends the
# same token for minutes, and an ES256 verification per request was a tenth of the
# partner API's CPU (docs/benchmarks.md). Only signatures are taken on trust again:
# the lifetime and the signing key are checked on every request.
_VERIFIED_TOKENS_KEPT = 10_000


class InvalidToken(Exception):
    pass


class PartnerTokens:
    def __init__(self, settings: GatewaySettings, keyring: Keyring) -> None:
        self.settings = settings
        self.keyring = keyring
        self._keys: dict[str, SigningKey] = {}
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()
        self._verified: dict[str, tuple[str, dict]] = {}  # token -> (kid, claims)

    @property
    def _grace(self) -> timedelta:
        # A retired key verifies (and is published) as long as a token it signed can live.
        return timedelta(seconds=self.settings.partner_token_ttl_seconds + self.settings.auth_leeway_seconds)

    async def refresh(self, database, force: bool = False) -> None:
        if not force and time.monotonic() - self._loaded_at < self.settings.signing_key_check_seconds:
            return
        async with self._lock:
            async with database.reading() as connection:
                rows = (await connection.execute(select(signing_keys).where(or_(
                    signing_keys.c.retired_at.is_(None),
                    signing_keys.c.retired_at > datetime.now(UTC) - self._grace)))).all()
            self._keys = {r.kid: SigningKey(r.kid, self.keyring.open(r.private_key, r.kid), json.loads(r.public_jwk),
                                            r.retired_at, ECAlgorithm.from_jwk(r.public_jwk)) for r in rows}
            self._verified = {token: known for token, known in self._verified.items() if known[0] in self._keys}
            self._loaded_at = time.monotonic()

    async def rotate(self, connection) -> str:
        """Make a new signing key current; the previous one retires (still verifying for a while)."""
        now = datetime.now(UTC)
        await connection.execute(update(signing_keys).where(signing_keys.c.retired_at.is_(None))
                                 .values(retired_at=now))
        kid = uuid.uuid4().hex[:16]
        private = ec.generate_private_key(ec.SECP256R1())
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
        public_jwk = {**ECAlgorithm.to_jwk(private.public_key(), as_dict=True), "kid": kid, "use": "sig",
                      "alg": ALGORITHM}
        await connection.execute(insert(signing_keys).values(
            kid=kid, private_key=self.keyring.seal(pem, kid), public_jwk=json.dumps(public_jwk), created_at=now))
        self._loaded_at = float("-inf")
        return kid

    async def ensure_signing_key(self, database) -> None:
        async with database.transaction() as connection:
            current = (await connection.execute(select(signing_keys.c.kid).where(
                signing_keys.c.retired_at.is_(None)))).first()
            if current is None:
                await self.rotate(connection)
        await self.refresh(database, force=True)

    def jwks(self) -> dict:
        return {"keys": [key.public_jwk for key in self._keys.values()]}

    def issue(self, partner_id: str, client_id: str, scopes: list[str]) -> tuple[str, int]:
        current = [k for k in self._keys.values() if k.retired_at is None]
        if not current:
            raise RuntimeError("no signing key loaded: call ensure_signing_key() at start")
        key = current[0]
        issued = int(time.time())
        ttl = self.settings.partner_token_ttl_seconds
        claims = {"iss": self.settings.partner_token_issuer, "aud": self.settings.partner_token_audience,
                  "sub": client_id, "partner_id": partner_id, "scope": " ".join(scopes), "iat": issued,
                  "nbf": issued, "exp": issued + ttl, "jti": uuid.uuid4().hex}
        return jwt.encode(claims, key.private_pem, algorithm=ALGORITHM, headers={"kid": key.kid}), ttl

    async def verify(self, token: str, database) -> dict:
        await self.refresh(database)
        known = self._verified.get(token)
        if known is not None:
            kid, claims = known
            # The key may have left the set (its grace ended) and the token may have expired since.
            if kid in self._keys and time.time() < claims["exp"] + self.settings.auth_leeway_seconds:
                return claims
            del self._verified[token]
        claims, kid = await self._verify_signature(token, database)
        if len(self._verified) >= _VERIFIED_TOKENS_KEPT:
            self._verified.pop(next(iter(self._verified)))  # the oldest entry
        self._verified[token] = (kid, claims)
        return claims

    async def _verify_signature(self, token: str, database) -> tuple[dict, str]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise InvalidToken("the token is malformed") from None
        if kid not in self._keys:
            await self.refresh(database, force=True)  # rotated on another instance
        key = self._keys.get(kid)
        if key is None:
            raise InvalidToken("the token is signed with an unknown key")
        try:
            return jwt.decode(token, key.public_key, algorithms=[ALGORITHM],
                              audience=self.settings.partner_token_audience,
                              issuer=self.settings.partner_token_issuer, leeway=self.settings.auth_leeway_seconds,
                              options={"require": ["exp", "sub", "partner_id"]}), kid
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("the token's signature does not verify") from None
        except jwt.PyJWTError:
            raise InvalidToken("the token is not a partner token of this gateway") from None
