import pytest
from pydantic import ValidationError

from overdue_detector.domain import Bucket
from overdue_detector.settings import DetectorSettings


def test_policy_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("DETECTOR_GRACE_DAYS", "5")
    monkeypatch.setenv("DETECTOR_DUE_SOON_DAYS", "7")
    monkeypatch.setenv("DETECTOR_BUCKET_UPPER_BOUNDS", "[0,29,59,89,119,149,179]")
    policy = DetectorSettings().policy
    assert (policy.grace_days, policy.due_soon_days) == (5, 7)
    assert Bucket.for_dpd(30, policy) is Bucket.M2 and Bucket.for_dpd(180, policy) is Bucket.M7_PLUS


def test_defaults_are_the_design_defaults():
    policy = DetectorSettings().policy
    assert (policy.grace_days, policy.due_soon_days) == (3, 3)
    assert [Bucket.for_dpd(d, policy) for d in (0, 1, 30, 31, 180, 181)] == [
        Bucket.M0, Bucket.M1, Bucket.M1, Bucket.M2, Bucket.M6, Bucket.M7_PLUS]


def test_nonsense_is_refused(monkeypatch):
    monkeypatch.setenv("DETECTOR_GRACE_DAYS", "-1")
    with pytest.raises(ValidationError):
        DetectorSettings()
