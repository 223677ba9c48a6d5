"""The compliance audit over constructed logs: a clean run is clean, and each seeded
violation is caught with its rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from card_simulator.audit import Attempt, BureauReport, Customer, Delivery, audit

SHANGHAI_10 = datetime(2027, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, 21:00 the day before in New York
CUSTOMERS = {"C1": Customer("C1", "Asia/Shanghai"), "C2": Customer("C2", "America/New_York")}


def sent(request_id: str, customer: str, channel: str, at: datetime, template: str = "overdue.sms"):
    return Delivery(channel, at, request_id, template), Attempt(customer, request_id, channel, at)


def run(*contacts, customers=CUSTOMERS, reports=()):
    return audit([d for d, _ in contacts], [a for _, a in contacts], customers, reports)


def test_contacts_inside_the_hours_and_caps_are_clean():
    assert run(sent("r1", "C1", "sms", SHANGHAI_10), sent("r2", "C1", "sms", SHANGHAI_10 + timedelta(hours=1)),
               sent("r3", "C1", "email", SHANGHAI_10),
               sent("r4", "C2", "sms", SHANGHAI_10 + timedelta(hours=12))) == []


def test_an_sms_at_22_00_local_is_a_quiet_hours_violation():
    late = datetime(2027, 3, 2, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai
    found = run(sent("r1", "C1", "sms", late))
    assert [(v.rule, v.customer_id, v.request_id) for v in found] == [("quiet-hours", "C1", "r1")]
    assert "22:00" in found[0].detail


def test_a_letter_handed_to_the_print_vendor_at_night_keeps_the_hours():
    night = datetime(2027, 3, 2, 10, 0, tzinfo=UTC)  # 05:00 in New York
    assert run(sent("l1", "C2", "letter", night, "collection-letter.letter")) == []
    assert [v.rule for v in run(sent("s1", "C2", "sms", night))] == ["quiet-hours"]


def test_hours_are_judged_in_the_customers_own_zone():
    found = run(sent("r1", "C2", "sms", SHANGHAI_10))  # 21:00 in New York: the end is exclusive
    assert [v.rule for v in found] == ["quiet-hours"]


def test_a_third_sms_on_one_local_day_breaks_the_cap_once():
    found = run(*(sent(f"r{n}", "C1", "sms", SHANGHAI_10 + timedelta(minutes=n)) for n in range(4)))
    assert [(v.rule, v.request_id) for v in found] == [("daily-cap", "r2")]


def test_an_sms_after_the_customer_opted_out_is_caught_and_one_before_is_not():
    customers = CUSTOMERS | {"C1": Customer("C1", "Asia/Shanghai", opted_out_sms_at=SHANGHAI_10)}
    found = run(sent("before", "C1", "sms", SHANGHAI_10 - timedelta(minutes=5)),
                sent("after", "C1", "sms", SHANGHAI_10 + timedelta(minutes=5)),
                sent("letter", "C1", "letter", SHANGHAI_10 + timedelta(minutes=5), "collection-letter.letter"),
                customers=customers)
    assert [(v.rule, v.request_id) for v in found] == [("opt-out", "after")]


def test_a_contact_during_a_blocking_hold_is_caught():
    hold = ("dispute", SHANGHAI_10, SHANGHAI_10 + timedelta(days=3))
    customers = CUSTOMERS | {"C1": Customer("C1", "Asia/Shanghai", holds=(hold,))}
    found = run(sent("r0", "C1", "sms", SHANGHAI_10), sent("r1", "C1", "sms", SHANGHAI_10 + timedelta(hours=1)),
                sent("r2", "C1", "sms", SHANGHAI_10 + timedelta(days=4)), customers=customers)
    assert [(v.rule, v.request_id) for v in found] == [("hold", "r1")], "r0 went out at the step the hold began"


def test_a_delivery_the_ledger_does_not_know_is_caught():
    found = audit([Delivery("sms", SHANGHAI_10, "ghost")], [], CUSTOMERS)
    assert [(v.rule, v.request_id) for v in found] == [("unledgered", "ghost")]


def test_a_bureau_report_needs_a_pre_notice_delivered_before_it():
    notice = sent("n1", "C1", "letter", SHANGHAI_10, "bureau-prenotice.letter")
    assert run(notice, reports=[BureauReport("C1", SHANGHAI_10 + timedelta(days=14))]) == []
    found = run(notice, reports=[BureauReport("C1", SHANGHAI_10 - timedelta(days=1)),
                                 BureauReport("C2", SHANGHAI_10)])
    assert [(v.rule, v.customer_id) for v in found] == [("bureau-without-notice", "C1"),
                                                         ("bureau-without-notice", "C2")]


def test_a_call_permitted_outside_the_customers_hours_is_caught():
    calls = [Attempt("C1", "p1", "call", SHANGHAI_10), Attempt("C2", "p2", "call", SHANGHAI_10)]
    found = audit([], [], CUSTOMERS, calls=calls)
    assert [(v.rule, v.customer_id, v.request_id) for v in found] == [("quiet-hours", "C2", "p2")]


def test_the_audit_reads_its_rules_from_the_packs_published_data():
    from datetime import time

    from card_simulator.figures import rules_of

    uk = rules_of("UK")
    assert "breathing-space" in uk.blocking_holds and "hardship" not in uk.blocking_holds
    assert (uk.allowed_from, uk.allowed_until) == (time(8), time(21)) and uk.daily_caps["letter"] == 1
    late = datetime(2027, 3, 2, 21, 30, tzinfo=UTC)  # 21:30 in London
    found = audit(*zip(*[sent("r1", "C3", "sms", late)]), {"C3": Customer("C3", "Europe/London")}, rules=uk)
    assert [v.rule for v in found] == ["quiet-hours"]


def test_holds_are_read_from_a_cases_timeline():
    from card_simulator.figures import holds_of

    timeline = [{"entry": "hold-started", "rule": "hold.hardship", "at": "2027-03-01T10:00:00+00:00"},
                {"entry": "contact-sent", "rule": None, "at": "2027-03-01T11:00:00+00:00"},
                {"entry": "hold-started", "rule": "hold.promise", "at": "2027-03-02T10:00:00+00:00"},
                {"entry": "hold-ended", "rule": "hold.hardship", "at": "2027-03-03T10:00:00+00:00"}]
    assert holds_of(timeline) == (
        ("hardship", datetime(2027, 3, 1, 10, tzinfo=UTC), datetime(2027, 3, 3, 10, tzinfo=UTC)),
        ("promise", datetime(2027, 3, 2, 10, tzinfo=UTC), None))
    # Found by the default demo: a dispute hold open when its case closed (cured) was read as
    # open for good, and an SMS to the customer weeks later as sent during it.
    closed = [*timeline, {"entry": "case-closed", "rule": None, "at": "2027-03-05T01:00:00+00:00"}]
    assert holds_of(closed) == (
        ("hardship", datetime(2027, 3, 1, 10, tzinfo=UTC), datetime(2027, 3, 3, 10, tzinfo=UTC)),
        ("promise", datetime(2027, 3, 2, 10, tzinfo=UTC), datetime(2027, 3, 5, 1, tzinfo=UTC)))
