import pytest
from pydantic import ValidationError

from overdue_detector.domain import Bucket, PaymentRule
from overdue_detector.settings import DetectorSettings


def test_policy_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("DETECTOR_GRACE_DAYS", "5")
    monkeypatch.setenv("DETECTOR_DUE_SOON_DAYS", "7")
    monkeypatch.setenv("DETECTOR_BUCKET_UPPER_BOUNDS", "[0,29,59,89,119,149,179]")
    monkeypatch.setenv("DETECTOR_PAYMENT_RULE", "paid-ahead")
    policy = DetectorSettings().policy
    assert (policy.grace_days, policy.due_soon_days, policy.payment_rule) == (5, 7, PaymentRule.PAID_AHEAD)
    assert Bucket.for_dpd(30, policy) is Bucket.M2 and Bucket.for_dpd(180, policy) is Bucket.M7_PLUS


def test_defaults_are_the_design_defaults():
    policy = DetectorSettings().policy
    assert (policy.grace_days, policy.due_soon_days, policy.payment_rule) == (3, 3, PaymentRule.ISSUED_STATEMENTS)
    assert [Bucket.for_dpd(d, policy) for d in (0, 1, 30, 31, 180, 181)] == [
        Bucket.M0, Bucket.M1, Bucket.M1, Bucket.M2, Bucket.M6, Bucket.M7_PLUS]


def test_nonsense_is_refused(monkeypatch):
    monkeypatch.setenv("DETECTOR_GRACE_DAYS", "-1")
    with pytest.raises(ValidationError):
        DetectorSettings()


def test_an_unknown_payment_rule_is_refused(monkeypatch):
    monkeypatch.setenv("DETECTOR_PAYMENT_RULE", "whatever-pays")
    with pytest.raises(ValidationError):
        DetectorSettings()
