"""The console in a real headless Chromium (Debian's, through its chromedriver)
against the real platform: Kafka, the four services and the console started by
deploy/local/local_platform.Platform on the session broker, all on one simulated
clock at 21:30 in Shanghai.

One customer goes past due; the agent takes the call task, sees the customer's contact
details masked, is refused the call by the quiet-hours rule with the time calling opens,
records a promise and sees it on the timeline, and reveals the details with a reason; a
supervisor reassigns the task and the new assignee holds it; a supervisor overrides the
stage with a reason; a lapsed agent is refused work and told why; the zh-CN UI renders
Chinese; compliance reads the ledger by customer, agent or rule, the reveal on the audit
and the templates' lint status.
Each page is photographed into var/screenshots/console/, which the run keeps.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import date, datetime
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.support.ui import Select, WebDriverWait

from collections_core.auth import mint_token
from collections_core.clock import FileClock
from collections_core.contracts.corebanking.v1 import accounts_pb2, business_days_pb2, customers_pb2, statements_pb2
from collections_core.money import Money
from collections_core.wire import date_to_proto
from local_platform import SERVICES, Platform
from support import encode, free_port, produce

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
SHOTS = ROOT / "var" / "screenshots" / "console"
# Years apart from the other tests that use the shared topics (2026, 2027).
DUE, TODAY = date(2029, 3, 5), date(2029, 3, 13)  # DPD 8 on TODAY: the early stage makes a call task
NIGHT = datetime.fromisoformat("2029-03-13T21:30:00+08:00")  # quiet hours in Shanghai (CN pack: 08:00–21:00)


def wait_for(probe, what: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if found := probe():
                return found
        except httpx.TransportError:  # a busy machine: ask again
            pass
        time.sleep(0.5)
    raise AssertionError(f"{what} not seen in {timeout:.0f}s")


async def one_customer_past_due(running: Platform, account: str, customer: str) -> None:
    bootstrap = running.broker.bootstrap
    await produce(bootstrap, "corebanking.customers.v1", [encode(customers_pb2.CustomerUpserted(
        customer_id=customer, name="Han Meimei", phone="+8613900139000", time_zone="Asia/Shanghai",
        language="zh-CN"), customer)])
    await produce(bootstrap, "corebanking.accounts.v1", [encode(accounts_pb2.AccountOpened(
        account_id=account, customer_id=customer, currency="CNY", credit_limit=Money(5_000_000, "CNY").to_proto(),
        opened_on=date_to_proto(date(2029, 1, 5))), account)])
    token = {"Authorization": f"Bearer {mint_token(running.jwt_secret(), 'setup', ['agent', 'supervisor'])}"}
    wait_for(lambda: httpx.get(f"{running.url('overdue-detector')}/v1/accounts/{account}", headers=token,
                               timeout=10).status_code == 200, "account opened")
    await produce(bootstrap, "corebanking.statements.v1", [encode(statements_pb2.StatementIssued(
        account_id=account, statement_id=f"ST-{account}", cycle_date=date_to_proto(date(2029, 2, 8)),
        due_date=date_to_proto(DUE), statement_balance=Money(1_000_000, "CNY").to_proto(),
        minimum_due=Money(50_000, "CNY").to_proto()), account)])
    wait_for(lambda: httpx.get(f"{running.url('overdue-detector')}/v1/accounts/{account}", headers=token,
                               timeout=10).json().get("statements"), "statement applied")
    await produce(bootstrap, "corebanking.business-days.v1", [encode(
        business_days_pb2.BusinessDayClosed(business_date=date_to_proto(TODAY)), "business-day")])

    def call_task():
        answer = httpx.get(f"{running.url('case-router')}/v1/accounts/{account}/case", headers=token, timeout=10)
        return answer.status_code == 200 and any(t["queue"] == "early" for t in answer.json()["tasks"])
    wait_for(call_task, "the case and its call task")
    wait_for(lambda: httpx.get(f"{running.url('notifier')}/v1/customers/{customer}/contact-history", headers=token,
                               timeout=10).status_code == 200, "the customer's contact point")


@pytest.fixture(scope="module")
def platform(kafka, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("console")
    clock = tmp / "clock"
    FileClock.write(clock, NIGHT)
    running = Platform(tmp, ports={name: free_port() for name in SERVICES}, broker=kafka,
                       extra_env={"CLOCK_FILE": str(clock), "LOG_LEVEL": "WARNING"})
    run = uuid.uuid4().hex[:6]
    account, customer = f"ACC-CON-{run}", f"CUS-CON-{run}"
    try:
        running.start(timeout=180)
        asyncio.run(one_customer_past_due(running, account, customer))
        yield running, account, customer
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1400",
                     "--lang=en-US"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path="/usr/bin/chromedriver"))
    driver.implicitly_wait(10)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


class Person:
    """One member of staff at the browser, signed in through the dev sign-in page."""

    def __init__(self, driver, console: str) -> None:
        self.driver, self.console = driver, console

    def sign_in(self, subject: str, role: str) -> Person:
        self.driver.delete_all_cookies()
        self.open("/sign-in")
        self.driver.find_element(By.ID, "subject").send_keys(subject)
        self.driver.find_element(By.ID, f"role-{role}").click()
        self.driver.find_element(By.ID, "sign-in").click()
        # The click returns before the browser leaves the sign-in page; finding an element
        # before then finds the sign-in page's, gone a moment later.
        WebDriverWait(self.driver, 20).until(lambda driver: "/sign-in" not in driver.current_url)
        return self

    def open(self, path: str) -> None:
        self.driver.get(self.console + path)

    def text(self) -> str:
        return self.driver.find_element(By.TAG_NAME, "body").text

    def wait_for(self, fragment: str, timeout: float = 20) -> str:
        """The page's text once it shows ``fragment``: after a click the browser may
        still show the page before (the assertion then fails after the timeout)."""
        WebDriverWait(self.driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda driver: fragment in driver.find_element(By.TAG_NAME, "body").text)
        return self.text()

    def fill(self, field: str, value: str) -> None:
        # Date inputs take keys in the browser's locale format; the value is what the form posts.
        # Found and set in one script: a node found first may be gone by the time a second
        # command reaches it, when the page before a click is still being replaced.
        WebDriverWait(self.driver, 20).until(lambda driver: driver.execute_script(
            "const field = document.getElementById(arguments[0]);"
            "if (field) { field.value = arguments[1]; } return field !== null;", field, value))

    def photograph(self, name: str) -> None:
        self.driver.execute_script("window.scrollTo(0, 0);")
        self.driver.save_screenshot(str(SHOTS / f"{name}.png"))


def test_an_agent_is_refused_a_call_at_night_and_records_a_promise(platform, browser):
    running, account, customer = platform
    agent = Person(browser, running.url("console")).sign_in("alice", "agent")
    assert "/desk" in browser.current_url
    agent.photograph("desk")
    browser.find_element(By.CSS_SELECTOR, "form[action='/desk/claims'] button").click()
    WebDriverWait(browser, 20).until(lambda driver: "/cases/" in driver.current_url)
    assert account in agent.wait_for(account)
    assert browser.find_element(By.ID, "contact-phone").text == "+86139****9000", "masked until revealed"
    assert "+8613900139000" not in agent.text()
    countdown = browser.find_element(By.CSS_SELECTOR, "[data-seconds-left]")
    assert int(countdown.get_attribute("data-seconds-left")) > 0 and ":" in countdown.text
    browser.find_element(By.ID, "ask-permit").click()
    permit = browser.find_element(By.ID, "permit").text
    assert "Do not call now." in permit and "quiet-hours" in permit
    assert "2029-03-14 08:00 +0800" in permit, "calling opens at 08:00 the next morning, customer's time"
    agent.photograph("case-call-refused")
    agent.fill("promise-amount", "300.00")
    agent.fill("promise-due", "2029-03-20")
    # A double submit: the same form, its Idempotency-Key with it, posted twice.
    statuses = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const form = document.getElementById('record-promise').form;
        const body = new URLSearchParams(new FormData(form));
        const post = () => fetch(form.action, {method: 'POST', body}).then(answer => answer.status);
        post().then(first => post().then(second => done([first, second])));""")
    assert statuses == [200, 200], statuses
    browser.refresh()
    assert "300.00 CNY" in agent.wait_for("300.00 CNY")
    assert browser.execute_script("return document.querySelectorAll('li[id^=\"promise-\"]').length") == 1, \
        "the second submit recorded nothing"
    timeline = browser.find_element(By.ID, "timeline").text
    assert "promise" in timeline and "alice" in timeline
    agent.photograph("case")
    agent.fill("reveal-reason", "customer asked us to confirm the number")
    browser.find_element(By.ID, "reveal-submit").click()
    agent.wait_for("+8613900139000")
    assert browser.find_element(By.ID, "contact-name").text == "Han Meimei"
    assert browser.find_element(By.ID, "revealed").is_displayed()


def test_a_supervisor_reassigns_a_task_and_the_new_assignee_holds_it(platform, browser):
    running, account, _ = platform
    token = {"Authorization": f"Bearer {mint_token(running.jwt_secret(), 'setup', ['supervisor'])}"}
    case = httpx.get(f"{running.url('case-router')}/v1/accounts/{account}/case", headers=token, timeout=10).json()
    task_id = next(t["task_id"] for t in case["tasks"] if t["queue"] == "early" and t["status"] == "waiting")
    supervisor = Person(browser, running.url("console")).sign_in("sam", "supervisor")
    supervisor.fill("reassign-task", task_id)
    supervisor.fill("reassign-to", "dora")
    supervisor.fill("reassign-reason", "alice is off sick today")
    browser.find_element(By.ID, "reassign-submit").click()
    # The form answers with a redirect; wait for it before signing out, or the sign-out races it.
    WebDriverWait(browser, 20).until(lambda driver: "done=reassign" in driver.current_url)
    dora = Person(browser, running.url("console")).sign_in("dora", "agent")
    dora.open(f"/cases/{case['case_id']}")
    assert f"You hold task {task_id}" in dora.wait_for(f"You hold task {task_id}")
    assert "alice is off sick today" in browser.find_element(By.ID, "timeline").text
    dora.photograph("case-reassigned")


def test_a_supervisor_overrides_the_stage_with_a_reason(platform, browser):
    running, account, _ = platform
    token = {"Authorization": f"Bearer {mint_token(running.jwt_secret(), 'setup', ['supervisor'])}"}
    case_id = httpx.get(f"{running.url('case-router')}/v1/accounts/{account}/case", headers=token,
                        timeout=10).json()["case_id"]
    supervisor = Person(browser, running.url("console")).sign_in("sam", "supervisor")
    assert "/supervisor" in browser.current_url and "<svg" in browser.page_source
    supervisor.photograph("supervisor")
    supervisor.fill("override-case", case_id)
    Select(browser.find_element(By.ID, "override-stage")).select_by_value("letter")
    supervisor.fill("override-reason", "customer asked for written contact")
    browser.find_element(By.ID, "override-submit").click()
    assert browser.find_element(By.ID, "stage").text == "letter"
    assert "written contact" in browser.find_element(By.ID, "timeline").text


def test_a_lapsed_agent_is_refused_work_and_told_why(platform, browser):
    running, _, _ = platform
    supervisor = Person(browser, running.url("console")).sign_in("sam", "supervisor")
    supervisor.open("/supervisor/certifications")
    supervisor.fill("cert-agent", "bob")
    supervisor.fill("cert-course", "conduct")
    supervisor.fill("cert-passed", "2028-03-01")
    supervisor.fill("cert-days", "365")  # expires on 2029-03-01
    browser.find_element(By.ID, "cert-submit").click()
    assert "lapsed" in supervisor.wait_for("lapsed")
    supervisor.photograph("certifications")
    bob = Person(browser, running.url("console")).sign_in("bob", "agent")
    assert "lapsed" in bob.wait_for("lapsed")
    browser.find_element(By.CSS_SELECTOR, "form[action='/desk/claims'] button").click()
    # The desk before the click has an (empty) claim-problem too: wait for the refusal's page.
    bob.wait_for("Certification lapsed")
    refusal = browser.find_element(By.ID, "claim-problem").text
    assert "Certification lapsed" in refusal and "conduct" in refusal and "2029-03-01" in refusal
    bob.photograph("desk-certification-lapsed")


def test_the_chinese_ui_and_the_compliance_ledger(platform, browser):
    running, _, customer = platform
    officer = Person(browser, running.url("console")).sign_in("carol", "compliance")
    Select(browser.find_element(By.ID, "language")).select_by_value("zh-CN")
    browser.find_element(By.CSS_SELECTOR, "form[action='/language'] button").click()
    # The language form's redirect may still be loading; opening the ledger before it
    # lands lets that redirect replace the ledger with the bare compliance page.
    WebDriverWait(browser, 20, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda driver: driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN")
    officer.open(f"/compliance?customer_id={customer}")
    page = officer.wait_for("bank-agent:alice")
    assert "联系记录查询" in page and "合作机构个人信息读取记录" in page
    assert "quiet-hours" in page and "bank-agent:alice" in page, "the refused call is on the ledger"
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
    assert "confirm the number" in browser.find_element(By.ID, "reveal-audit").text, "alice's reveal is audited"
    assert "通过" in browser.find_element(By.ID, "template-lint").text
    officer.photograph("compliance-zh-CN")
    for search in ("actor=alice", "rule=quiet-hours"):  # no customer id: by agent alone, by rule alone
        officer.open(f"/compliance?{search}")
        WebDriverWait(browser, 20).until(lambda driver: search in driver.current_url)
        ledger = browser.find_element(By.ID, "ledger").text
        assert customer in ledger and "bank-agent:alice" in ledger, search
