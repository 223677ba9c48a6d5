"""The staff API on SQLite and PostgreSQL: contact details masked, a reveal in clear
only with a reason and audited in its own transaction, the reveal audit and the
contact ledger searched by compliance across customers, the templates' lint status."""

import io
import logging

import httpx
import pytest
import structlog
from collections_core.auth import mint_token
from collections_core.contracts.corebanking.v1 import customers_pb2
from collections_core.logs import configure_logging
from notifier.main import create_app

pytestmark = pytest.mark.integration
JWT_SECRET = "notifier-test-secret-of-32-bytes!!"
CLEAR = ("王小明", "+8613812345678", "13812345678", "zhang.wei@example.cn", "世纪大道100号", "200120")


def bearer(role: str, subject: str = "alice") -> dict:
    return {"Authorization": f"Bearer {mint_token(JWT_SECRET, subject, [role], ttl_seconds=300)}"}


# Minted when a request is sent: a constant minted at import would expire during a long run.
AGENT, SUPERVISOR, COMPLIANCE, GATEWAY = ("agent",), ("supervisor", "sam"), ("compliance",), ("agency-gateway",)


@pytest.fixture
async def api(notifier_runtime, deliver):
    runtime = await notifier_runtime()
    for customer_id, zone in (("C-1", "Asia/Shanghai"), ("C-2", "Asia/Shanghai"), ("C-UK", "Europe/London")):
        await deliver(runtime, customers_pb2.CustomerUpserted(
            customer_id=customer_id, name="王小明", phone="+8613812345678", email="zhang.wei@example.cn",
            address=customers_pb2.PostalAddress(lines=["浦东新区世纪大道100号"], city="上海市", region="上海",
                                                 postal_code="200120", country="CN"),
            time_zone=zone, language="zh-CN"), customer_id)
    app = create_app(runtime=runtime)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notifier") as client:
        yield client


@pytest.fixture
def logs():
    """The service's log lines, as rendered for production (JSON, redaction on)."""
    saved = structlog.get_config()
    configure_logging("notifier", "DEBUG", json=True)
    lines = io.StringIO()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=lines))
    yield lines
    structlog.configure(**saved)
    root = logging.getLogger()
    for handler in [h for h in root.handlers if type(h).__name__ == "_StandardLibraryHandler"]:
        root.removeHandler(handler)


async def test_staff_see_contact_details_masked(api):
    for role in (AGENT, SUPERVISOR, COMPLIANCE):
        answer = await api.get("/v1/customers/C-1/contact-details", headers=bearer(*role))
        assert answer.status_code == 200, answer.text
        assert {k: answer.json()[k] for k in ("name", "phone", "email", "address")} == {
            "name": "王**", "phone": "+86138****5678", "email": "z***@example.cn", "address": "****, 上海市, 上海, CN"}
        assert not [clear for clear in CLEAR if clear in answer.text]
    assert (await api.get("/v1/customers/C-1/contact-details", headers=bearer("operations"))).status_code == 403
    assert (await api.get("/v1/customers/C-1/contact-details")).status_code == 401
    assert (await api.get("/v1/customers/C-NOBODY/contact-details", headers=bearer(*AGENT))).status_code == 404


async def test_a_reveal_needs_a_reason_and_an_agent_or_supervisor(api):
    refused = [
        await api.post("/v1/customers/C-1/contact-details/reveals", json={}, headers=bearer(*AGENT)),
        await api.post("/v1/customers/C-1/contact-details/reveals", json={"reason": "   "}, headers=bearer(*AGENT)),
        await api.post("/v1/customers/C-1/contact-details/reveals", headers=bearer(*AGENT),
                       json={"reason": "call back", "fields": ["salary"]}),
    ]
    assert [r.status_code for r in refused] == [422, 422, 422]
    assert all(r.headers["content-type"] == "application/problem+json" for r in refused)
    compliance = await api.post("/v1/customers/C-1/contact-details/reveals", json={"reason": "audit sample"},
                                headers=bearer(*COMPLIANCE))
    assert compliance.status_code == 403
    unknown = await api.post("/v1/customers/C-NOBODY/contact-details/reveals", json={"reason": "call back"},
                             headers=bearer(*AGENT))
    assert unknown.status_code == 404
    audit = (await api.get("/v1/audit/pii-reveals", headers=bearer(*COMPLIANCE))).json()
    assert audit["reveals"] == [], "a refused reveal leaves no audit row"
    assert not [clear for r in [*refused, compliance, unknown] for clear in CLEAR if clear in r.text]


async def test_a_reveal_answers_in_clear_and_is_audited_never_logged(api, logs):
    answer = await api.post("/v1/customers/C-1/contact-details/reveals", headers=bearer(*AGENT),
                            json={"reason": "customer asked to confirm the number", "fields": ["phone", "name"]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["details"] == {"name": "王小明", "phone": "+8613812345678"}
    assert body["revealed_at"].startswith("2026-11-02T01:00:00"), "the service clock's time"
    everything = await api.post("/v1/customers/C-2/contact-details/reveals", headers=bearer(*SUPERVISOR),
                                json={"reason": "letter returned, checking the address"})
    assert everything.json()["details"]["address"] == "浦东新区世纪大道100号, 上海市, 上海, 200120, CN"

    audit = await api.get("/v1/audit/pii-reveals", headers=bearer(*COMPLIANCE))
    assert audit.status_code == 200
    rows = audit.json()["reveals"]
    assert [(r["customer_id"], r["actor"], r["fields"]) for r in rows] == [
        ("C-2", "sam", ["name", "phone", "email", "address"]), ("C-1", "alice", ["name", "phone"])]
    assert rows[1]["reason"] == "customer asked to confirm the number" and rows[1]["roles"] == ["agent"]
    assert rows[1]["revealed_at"].startswith("2026-11-02T01:00:00")
    by_actor = (await api.get("/v1/audit/pii-reveals", params={"actor": "alice"},
                              headers=bearer(*COMPLIANCE))).json()
    by_customer = (await api.get("/v1/audit/pii-reveals", params={"customer_id": "C-2"},
                                 headers=bearer(*COMPLIANCE))).json()
    assert [r["customer_id"] for r in by_actor["reveals"]] == ["C-1"]
    assert [r["actor"] for r in by_customer["reveals"]] == ["sam"]
    first = (await api.get("/v1/audit/pii-reveals", params={"limit": 1}, headers=bearer(*COMPLIANCE))).json()
    after = (await api.get("/v1/audit/pii-reveals", params={"limit": 1, "cursor": first["next_cursor"]},
                           headers=bearer(*COMPLIANCE))).json()
    assert [r["customer_id"] for r in first["reveals"] + after["reveals"]] == ["C-2", "C-1"]
    assert after["next_cursor"] is None
    assert (await api.get("/v1/audit/pii-reveals", headers=bearer(*AGENT))).status_code == 403

    written = logs.getvalue()
    assert "contact details revealed" in written and "C-1" in written
    assert not [clear for clear in CLEAR if clear in written]


def permit(n: int, customer: str, caller: dict) -> dict:
    return {"permit_request_id": f"P-{customer}-{n}", "customer_id": customer, "account_id": f"A-{customer}",
            "caller": caller}


async def test_compliance_searches_the_ledger_by_agent_agency_or_rule_alone(api):
    alice = {"kind": "bank-agent", "id": "alice"}
    bob = {"kind": "agency", "id": "bob", "agency_id": "AG-1"}
    for n, (customer, caller, headers) in enumerate([("C-1", alice, AGENT), ("C-2", bob, GATEWAY),
                                                     ("C-UK", alice, AGENT), ("C-2", alice, AGENT)]):
        answer = await api.post("/v1/call-permits", json=permit(n, customer, caller), headers=bearer(*headers))
        assert answer.status_code == 200, answer.text

    async def search(**filters) -> list[tuple]:
        answer = await api.get("/v1/contact-ledger", params=filters, headers=bearer(*COMPLIANCE))
        assert answer.status_code == 200, answer.text
        return [(e["customer_id"], e["actor"], e["decision"], e["rule"]) for e in answer.json()["entries"]]

    assert await search(actor="alice") == [("C-2", "bank-agent:alice", "allow", None),
                                           ("C-UK", "bank-agent:alice", "defer", "quiet-hours"),
                                           ("C-1", "bank-agent:alice", "allow", None)]
    assert await search(actor="bob") == await search(agency="AG-1") == [("C-2", "agency:AG-1:bob", "allow", None)]
    assert await search(actor="agency:AG-1:bob") == await search(agency="AG-1")
    assert await search(agency="AG_1") == [], "an id's _ is a character, not a wildcard"
    assert await search(rule="quiet-hours") == await search(decision="defer") == [
        ("C-UK", "bank-agent:alice", "defer", "quiet-hours")]
    assert await search(since="2026-11-02T01:00:01Z") == []
    assert len(await search(since="2026-11-02T01:00:00+00:00")) == 4

    pages, cursor = [], None
    while True:
        page = (await api.get("/v1/contact-ledger", params={"limit": 3, **({"cursor": cursor} if cursor else {})},
                              headers=bearer(*COMPLIANCE))).json()
        pages.append([e["id"] for e in page["entries"]])
        if not (cursor := page["next_cursor"]):
            break
    assert [len(p) for p in pages] == [3, 1]
    ids = [int(i) for p in pages for i in p]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 4, "newest first, each entry once"

    for bad in ({"decision": "maybe"}, {"limit": 0}, {"limit": 501}, {"cursor": "abc"}, {"since": "1700000000"},
                {"since": "2026-11-02T01:00:00"}, {"actor": "a b"}, {"rule": ""}):
        answer = await api.get("/v1/contact-ledger", params=bad, headers=bearer(*COMPLIANCE))
        assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json", bad
    assert (await api.get("/v1/contact-ledger", headers=bearer(*SUPERVISOR))).status_code == 403


async def test_compliance_reads_the_lint_status_of_every_template(api):
    answer = await api.get("/v1/templates/lint", headers=bearer(*COMPLIANCE))
    assert answer.status_code == 200
    templates = answer.json()["templates"]
    assert {"template": "overdue.sms", "purpose": "overdue", "channel": "sms", "language": "zh-CN", "ok": True,
            "findings": []} in templates
    assert {t["language"] for t in templates} == {"zh-CN", "en"} and all(t["ok"] for t in templates)
    assert (await api.get("/v1/templates/lint", headers=bearer(*AGENT))).status_code == 403
