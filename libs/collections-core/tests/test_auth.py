"""The shared bearer-JWT verifier: the authorisation matrix every service inherits."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from collections_core.auth import AuthConfig, Principal, TokenVerifier, main, mint_token, require_roles, require_scopes
from collections_core.http import install_problem_handlers

SECRET = "test-secret-of-at-least-32-bytes!!"


def app_with(config: AuthConfig) -> TestClient:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.verifier = TokenVerifier(config)

    @app.post("/aging-runs")
    async def operations_only(principal: Principal = Depends(require_roles("operations"))) -> dict:
        return {"subject": principal.subject, "roles": sorted(principal.roles)}

    @app.get("/placements")
    async def partner_read(principal: Principal = Depends(require_scopes("placements:read"))) -> dict:
        return {"subject": principal.subject}

    return TestClient(app)


@pytest.fixture
def client() -> TestClient:
    return app_with(AuthConfig(secret=SECRET))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_valid_token_with_the_role_is_let_through(client):
    response = client.post("/aging-runs", headers=bearer(mint_token(SECRET, "ops-1", ["operations"])))
    assert response.status_code == 200
    assert response.json() == {"subject": "ops-1", "roles": ["operations"]}


@pytest.mark.parametrize("case, headers, reason", [
    ("no token", {}, "a bearer token is required"),
    ("not bearer", {"Authorization": "Basic dXNlcjpwYXNz"}, "a bearer token is required"),
    ("garbage", bearer("not.a.jwt"), "malformed"),
    ("expired", bearer(mint_token(SECRET, "ops-1", ["operations"], ttl_seconds=60, now=time.time() - 3600)),
     "expired"),
    ("wrong audience", bearer(mint_token(SECRET, "ops-1", ["operations"], audience="another-bank")),
     "another audience"),
    ("wrong issuer", bearer(mint_token(SECRET, "ops-1", ["operations"], issuer="evil")), "another issuer"),
    ("bad signature", bearer(mint_token("another-secret-also-32-bytes-long!", "ops-1", ["operations"])),
     "signature"),
    ("not yet valid", bearer(mint_token(SECRET, "ops-1", ["operations"], now=time.time() + 3600)), "not valid yet"),
    ("alg none", bearer(jwt.encode({"sub": "x", "roles": ["operations"], "aud": "card-collections",
                                    "iss": "card-collections", "exp": int(time.time()) + 60}, None, algorithm="none")),
     "malformed"),
])
def test_a_request_without_an_acceptable_token_is_a_401_problem_with_a_challenge(client, case, headers, reason):
    response = client.post("/aging-runs", headers=headers)
    assert response.status_code == 401, case
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert reason in response.json()["detail"]


def test_a_valid_token_without_the_role_is_a_403_problem(client):
    response = client.post("/aging-runs", headers=bearer(mint_token(SECRET, "agent-7", ["agent", "supervisor"])))
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert "operations" in response.json()["detail"]


def test_scopes_are_read_from_the_scope_claim(client):
    granted = client.get("/placements", headers=bearer(mint_token(SECRET, "agency-1", scopes=["placements:read"])))
    refused = client.get("/placements", headers=bearer(mint_token(SECRET, "agency-1", scopes=["activities:write"])))
    assert granted.status_code == 200
    assert refused.status_code == 403 and 'error="insufficient_scope"' in refused.headers["www-authenticate"]


def test_no_configured_key_refuses_every_token():
    client = app_with(AuthConfig())
    response = client.post("/aging-runs", headers=bearer(mint_token(SECRET, "ops-1", ["operations"])))
    assert response.status_code == 401
    assert "no token verification key" in response.json()["detail"]


def test_roles_can_come_from_a_nested_claim():
    client = app_with(AuthConfig(secret=SECRET, roles_claim="realm_access.roles"))
    token = mint_token(SECRET, "ops-1", [], realm_access={"roles": ["operations"]})
    assert client.post("/aging-runs", headers=bearer(token)).status_code == 200
    assert client.post("/aging-runs", headers=bearer(mint_token(SECRET, "ops-1", ["operations"]))).status_code == 403


def test_an_elliptic_curve_public_key_verifies_es256_tokens():
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    client = app_with(AuthConfig(public_key=pem))
    claims = {"sub": "ops-1", "roles": ["operations"], "aud": "card-collections", "iss": "card-collections",
              "exp": int(time.time()) + 60}
    assert client.post("/aging-runs", headers=bearer(jwt.encode(claims, private, algorithm="ES256"))).status_code == 200
    # An HS256 token signed with the public key as its secret (the classic key-confusion attack) is refused.
    assert client.post("/aging-runs", headers=bearer(_hs256_with_key(claims, pem.encode()))).status_code == 401


def _hs256_with_key(claims: dict, key: bytes) -> str:
    import hashlib
    import hmac
    from base64 import urlsafe_b64encode

    def b64(data: bytes) -> str:
        return urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    signature = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"


@pytest.fixture
def identity_provider():
    """A real HTTP server publishing a JWKS, as the bank's identity provider would."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update(kid="key-1", use="sig", alg="RS256")
    body = json.dumps({"keys": [jwk]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield private, f"http://127.0.0.1:{server.server_port}/jwks.json"
    server.shutdown()


def test_keys_can_come_from_a_jwks_url(identity_provider):
    private, url = identity_provider
    client = app_with(AuthConfig(jwks_url=url))
    claims = {"sub": "ops-1", "roles": ["operations"], "aud": "card-collections", "iss": "card-collections",
              "exp": int(time.time()) + 60}
    token = jwt.encode(claims, private, algorithm="RS256", headers={"kid": "key-1"})
    assert client.post("/aging-runs", headers=bearer(token)).status_code == 200
    unknown_kid = jwt.encode(claims, private, algorithm="RS256", headers={"kid": "key-2"})
    assert client.post("/aging-runs", headers=bearer(unknown_kid)).status_code == 401


def test_an_unreachable_jwks_is_a_503_not_a_401():
    client = app_with(AuthConfig(jwks_url="http://127.0.0.1:9/jwks.json"))
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode({"sub": "x", "exp": int(time.time()) + 60}, private, algorithm="RS256", headers={"kid": "k"})
    response = client.post("/aging-runs", headers=bearer(token))
    assert response.status_code == 503 and response.headers["retry-after"] == "5"


def test_the_dev_command_mints_a_token_the_verifier_accepts(capsys, client):
    main(["--secret", SECRET, "--subject", "ops-2", "--role", "operations", "--ttl", "120"])
    token = capsys.readouterr().out.strip()
    response = client.post("/aging-runs", headers=bearer(token))
    assert response.status_code == 200 and response.json()["subject"] == "ops-2"


def test_the_dev_command_refuses_to_run_without_a_secret(monkeypatch):
    monkeypatch.delenv("CC_AUTH_JWT_SECRET", raising=False)
    with pytest.raises(SystemExit):
        main(["--role", "agent"])
