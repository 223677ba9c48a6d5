"""OpenID Connect sign-in: the console reads the IdP's metadata and sends the browser
to its authorization endpoint with the client, redirect, scope, state and PKCE."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from collections_console.main import create_app
from collections_console.oidc import roles_of
from console_harness import settings


@pytest.fixture
def metadata_url():
    class Metadata(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            body = json.dumps({"issuer": base, "authorization_endpoint": f"{base}/authorize",
                               "token_endpoint": f"{base}/token", "jwks_uri": f"{base}/jwks"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Metadata)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/openid-configuration"
    server.shutdown()


def test_sign_in_redirects_to_the_identity_provider(metadata_url):
    configured = settings(oidc_metadata_url=metadata_url, oidc_client_id="console", oidc_client_secret="s3cret",
                          oidc_redirect_url="https://console.bank.example/auth/callback")
    with TestClient(create_app(configured)) as client:
        assert "/auth/sign-in" in client.get("/sign-in").text
        answer = client.get("/auth/sign-in", follow_redirects=False)
    assert answer.status_code == 302
    target = urlsplit(answer.headers["location"])
    query = parse_qs(target.query)
    assert target.path == "/authorize" and metadata_url.startswith(f"{target.scheme}://{target.netloc}")
    assert query["client_id"] == ["console"] and query["response_type"] == ["code"]
    assert query["redirect_uri"] == ["https://console.bank.example/auth/callback"]
    assert query["scope"] == ["openid profile email"] and query["code_challenge_method"] == ["S256"]
    assert query["state"][0] and query["nonce"][0]


def test_without_an_identity_provider_only_the_dev_sign_in_is_offered(console):
    assert "/auth/sign-in" not in console.get("/sign-in").text
    assert console.get("/auth/sign-in", follow_redirects=False).status_code == 404


@pytest.mark.parametrize(("claims", "claim", "roles"), [
    ({"roles": ["agent"]}, "roles", ["agent"]),
    ({"realm_access": {"roles": ["supervisor", "x"]}}, "realm_access.roles", ["supervisor", "x"]),
    ({"roles": "agent compliance"}, "roles", ["agent", "compliance"]),
    ({}, "roles", []),
])
def test_roles_come_from_the_configured_claim(claims, claim, roles):
    assert roles_of(claims, claim) == roles
