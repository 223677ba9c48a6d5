"""Which agents the training gate lets work: table tests of lapsed_certification."""

from datetime import date

import pytest

from case_router.domain.certifications import Certification, Lapsed, lapsed_certification

TODAY = date(2026, 11, 10)
CONDUCT = Certification("conduct", date(2025, 11, 10), date(2026, 11, 10))
RENEWED = Certification("conduct-2026", date(2026, 11, 1), date(2027, 11, 1))
OLD = Certification("privacy", date(2024, 1, 1), date(2025, 1, 1))


@pytest.mark.parametrize(("name", "records", "expected"), [
    ("no records yet: not judged", [], None),
    ("current the day before expiry", [Certification("conduct", date(2025, 11, 10), date(2026, 11, 11))], None),
    ("the expiry day is the first day without it", [CONDUCT], Lapsed("conduct", date(2026, 11, 10))),
    ("one current course is enough", [CONDUCT, RENEWED], None),
    ("passed in the future is not current yet", [Certification("conduct", date(2026, 11, 11), date(2027, 11, 11))],
     Lapsed("conduct", date(2027, 11, 11))),
    ("the latest expiry is named", [OLD, CONDUCT], Lapsed("conduct", date(2026, 11, 10))),
])
def test_who_may_take_work(name, records, expected):
    assert lapsed_certification(records, TODAY) == expected, name
