"""Bucket.for_dpd and the policy that bounds the buckets."""

from __future__ import annotations

import pytest

from overdue_detector.domain import Bucket, DelinquencyPolicy, InvalidPolicy

BOUNDARIES = [
    (0, Bucket.M0),
    (1, Bucket.M1),
    (30, Bucket.M1),
    (31, Bucket.M2),
    (60, Bucket.M2),
    (61, Bucket.M3),
    (90, Bucket.M3),
    (91, Bucket.M4),
    (120, Bucket.M4),
    (121, Bucket.M5),
    (150, Bucket.M5),
    (151, Bucket.M6),
    (180, Bucket.M6),
    (181, Bucket.M7_PLUS),
    (10_000, Bucket.M7_PLUS),
]


@pytest.mark.parametrize(("dpd", "bucket"), BOUNDARIES)
def test_default_boundaries(dpd, bucket):
    assert Bucket.for_dpd(dpd) is bucket


def test_bucket_values_are_the_bank_labels():
    assert [b.value for b in Bucket] == ["M0", "M1", "M2", "M3", "M4", "M5", "M6", "M7+"]


@pytest.mark.parametrize(("dpd", "bucket"), [(0, Bucket.M0), (15, Bucket.M1), (16, Bucket.M2), (71, Bucket.M7_PLUS)])
def test_boundaries_come_from_the_policy(dpd, bucket):
    policy = DelinquencyPolicy(bucket_upper_bounds=(0, 15, 30, 40, 50, 60, 70))

    assert Bucket.for_dpd(dpd, policy) is bucket


@pytest.mark.parametrize("dpd", [-1, 1.0, True])
def test_dpd_must_be_a_non_negative_int(dpd):
    with pytest.raises(ValueError, match="days past due"):
        Bucket.for_dpd(dpd)


INVALID_POLICIES = [
    ({"grace_days": -1}, "grace_days"),
    ({"due_soon_days": -1}, "due_soon_days"),
    ({"grace_days": 3.0}, "grace_days"),
    ({"bucket_upper_bounds": (0, 30, 60)}, "needs 7"),
    ({"bucket_upper_bounds": (1, 30, 60, 90, 120, 150, 180)}, "M0 means current"),
    ({"bucket_upper_bounds": (0, 30, 30, 90, 120, 150, 180)}, "strictly increasing"),
]


@pytest.mark.parametrize(("kwargs", "message"), INVALID_POLICIES)
def test_invalid_policy_rejected(kwargs, message):
    with pytest.raises(InvalidPolicy, match=message):
        DelinquencyPolicy(**kwargs)


def test_default_policy_numbers():
    policy = DelinquencyPolicy()

    assert (policy.grace_days, policy.due_soon_days) == (3, 3)
    assert policy.bucket_upper_bounds == (0, 30, 60, 90, 120, 150, 180)
