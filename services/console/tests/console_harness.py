"""Helpers for console tests: settings with the platform's dev secret, signing in
through the page as a person would, and reading the session back."""

from __future__ import annotations

import base64
import json
import re

from fastapi.testclient import TestClient

from collections_console.settings import ConsoleSettings

SECRET = "console-test-secret-0123456789abcdef0123456789"


def settings(**options) -> ConsoleSettings:
    # Upstreams on a closed port: a test that reaches them by mistake gets a 503, never a pass.
    closed = "http://127.0.0.1:9"
    return ConsoleSettings(**{"auth_jwt_secret": SECRET, "router_url": closed, "notifier_url": closed,
                              "gateway_url": closed, "default_language": "en", "log_json": False, **options})


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def signed_in(client: TestClient, role: str, subject: str = "alice") -> TestClient:
    page = client.get("/sign-in").text
    answer = client.post("/sign-in", data={"csrf_token": csrf_of(page), "subject": subject, "role": role},
                         follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return client




def session_of(client: TestClient) -> dict:
    """The signed session cookie's content (signed, not encrypted)."""
    value = client.cookies["console_session"].split(".")[0]
    return json.loads(base64.b64decode(value + "=" * (-len(value) % 4)))
