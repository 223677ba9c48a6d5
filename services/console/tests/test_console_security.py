"""Sign-in, CSRF and who may open which page, answered by the console itself before
any service is asked."""

from __future__ import annotations

import jwt
import pytest

from collections_console.pages import compliance, desk, signin, supervisor
from console_harness import SECRET, csrf_of, session_of, signed_in


def test_a_page_without_a_session_sends_you_to_sign_in(console):
    answer = console.get("/desk", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/sign-in"


def test_dev_sign_in_mints_a_platform_token_for_the_chosen_role(console):
    signed_in(console, "supervisor", "sup-1")
    claims = jwt.decode(session_of(console)["user"]["token"], SECRET, algorithms=["HS256"],
                        audience="card-collections")
    assert (claims["sub"], claims["roles"], claims["iss"]) == ("sup-1", ["supervisor"], "card-collections")
    page = console.get("/supervisor/certifications", follow_redirects=False)
    assert page.status_code == 503, "past sign-in and authorisation, the page asks the router (down here)"


@pytest.mark.parametrize("page", ["/supervisor", "/supervisor/certifications", "/compliance"])
def test_an_agent_cannot_open_supervisor_or_compliance_pages(console, page):
    signed_in(console, "agent")
    answer = console.get(page, follow_redirects=False)
    assert answer.status_code == 403
    assert "Forbidden" in answer.text


def test_compliance_staff_cannot_open_the_desk(console):
    signed_in(console, "compliance", "carol")
    assert console.get("/desk", follow_redirects=False).status_code == 403


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_a_form_without_the_sessions_csrf_token_is_refused(console, token):
    signed_in(console, "agent")
    data = {"queue": "early", "idempotency_key": "k" * 16}
    if token is not None:
        data["csrf_token"] = token
    answer = console.post("/desk/claims", data=data, follow_redirects=False)
    assert answer.status_code == 403 and "CSRF" in answer.text


def test_sign_in_itself_needs_the_csrf_token(console):
    answer = console.post("/sign-in", data={"subject": "mallory", "role": "supervisor"}, follow_redirects=False)
    assert answer.status_code == 403
    assert console.get("/supervisor", follow_redirects=False).status_code == 303, "not signed in"


def test_bad_sign_in_input_is_answered_inline(console):
    page = console.get("/sign-in").text
    answer = console.post("/sign-in", data={"csrf_token": csrf_of(page), "subject": "a b/c", "role": "root"})
    assert answer.status_code == 422 and 'role="alert"' in answer.text


def test_signing_out_ends_the_session(console):
    signed_in(console, "agent")
    page = console.get("/sign-in").text
    console.post("/sign-out", data={"csrf_token": csrf_of(page)}, follow_redirects=False)
    assert console.get("/desk", follow_redirects=False).status_code == 303


def test_every_form_the_console_accepts_checks_the_csrf_token(console):
    signed_in(console, "supervisor", "sup-1")
    posts = [route.path for pages in (signin, desk, supervisor, compliance) for route in pages.router.routes
             if "POST" in route.methods]
    assert len(posts) >= 8
    for path in posts:
        answer = console.post(path.replace("{case_id}", "C-1").replace("{kind}", "note"),
                              data={"csrf_token": "guess"}, follow_redirects=False)
        assert answer.status_code == 403 and "CSRF" in answer.text, path


def test_only_desk_staff_with_the_sessions_csrf_token_may_reveal_contact_details(console):
    signed_in(console, "compliance", "carol")
    csrf = csrf_of(console.get("/sign-in").text)
    refused = console.post("/cases/C-1/reveal", data={"csrf_token": csrf, "reason": "audit sample"},
                           follow_redirects=False)
    assert refused.status_code == 403 and "Forbidden" in refused.text, "compliance reads the audit, not the details"
    signed_in(console, "agent", "alice")
    forged = console.post("/cases/C-1/reveal", data={"csrf_token": "guess", "reason": "call back"},
                          follow_redirects=False)
    assert forged.status_code == 403 and "CSRF" in forged.text
