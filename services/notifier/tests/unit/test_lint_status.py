"""The lint status compliance reads: one row per template file, its findings beside it,
and a row for a translation the catalogue lacks."""

from notifier.staff_api import lint_status
from notifier.templates import Catalogue


def test_each_template_is_listed_with_its_own_findings(tmp_path):
    (tmp_path / "overdue.sms.en.j2").write_text("{{ bank_name }}: pay {{ amount_minor }} or go to jail. Reply STOP")
    (tmp_path / "overdue.sms.zh-CN.j2").write_text("{{ bank_name }}：请还款 {{ amount_minor }}。回复退订")
    (tmp_path / "reminder.email.en.j2").write_text("Subject: Reminder\nPlease pay {{ amount_minor }}.")
    status = {(s["template"], s["language"]): s for s in lint_status(Catalogue(tmp_path))}
    assert status[("overdue.sms", "en")]["findings"] == [{"rule": "banned:threat", "detail": "jail"}]
    assert status[("overdue.sms", "zh-CN")] == {"template": "overdue.sms", "purpose": "overdue", "channel": "sms",
                                                "language": "zh-CN", "ok": True, "findings": []}
    assert status[("reminder.email", "en")]["findings"] == [{"rule": "missing-element", "detail": "opt-out"}]
    missing = status[("reminder.email", "zh-CN")]
    assert (missing["ok"], missing["findings"]) == (False, [{"rule": "missing-translation", "detail": "zh-CN"}])
    assert len(status) == 4
