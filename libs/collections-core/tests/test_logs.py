import json

import structlog

from collections_core.logs import configure_logging, get_logger, scrub


def test_scrubs_phone_email_and_id_numbers():
    text = scrub("call +8613800138000 or mail li.lei@example.com, id 11010519491231002X")
    assert "13800138000" not in text and "example.com" not in text and "11010519491231002X" not in text
    assert "[phone]" in text and "[email]" in text and "[id-number]" in text


def test_log_lines_carry_context_and_never_pii(capsys):
    configure_logging("notifier", "INFO", json=True)
    structlog.contextvars.bind_contextvars(ce_id="evt-9", trace_id="t" * 32)
    try:
        get_logger("t").info("contact queued", name="Li Lei", phone="+8613800138000",
                             note="customer said email me at a@b.cn", amount_minor=1200)
    finally:
        structlog.contextvars.unbind_contextvars("ce_id", "trace_id", "service")
        # configure_logging bound pytest's capture stream; later tests must not write to it.
        structlog.reset_defaults()
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["service"] == "notifier" and line["ce_id"] == "evt-9" and line["trace_id"] == "t" * 32
    assert line["name"] == "[redacted]" and line["phone"] == "[redacted]"
    assert "a@b.cn" not in line["note"] and line["amount_minor"] == 1200


def test_dates_amounts_and_ids_are_not_mistaken_for_pii():
    text = "business date 2026-11-28, amount 1234567 minor, account A-0000123456, at 2026-11-28T12:00:00Z"
    assert scrub(text) == text
    assert scrub("mobile 13800138000") == "mobile [phone]"


def test_standard_library_records_get_the_same_redaction_and_rendering(capsys):
    import logging

    configure_logging("notifier", "INFO", json=True)
    try:
        logging.getLogger("sms_vendor.sdk").warning(
            "sending %s", {"name": "Li Lei", "phone": "+8613800138000", "email": "li.lei@example.com"})
    finally:
        structlog.contextvars.unbind_contextvars("service")
        structlog.reset_defaults()
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["logger"] == "sms_vendor.sdk" and line["level"] == "warning" and line["service"] == "notifier"
    assert line["event"] == "sending {'name': [redacted], 'phone': [redacted], 'email': [redacted]}"


def test_personal_fields_written_into_text_are_masked():
    assert scrub('{"name": "Li Lei", "account_id": "A-1"}') == '{"name": [redacted], "account_id": "A-1"}'
    assert scrub("name=Li Lei, dpd=4") == "name=[redacted], dpd=4"
    assert scrub('address {\n  lines: "88 Jianguo Road"\n}') == 'address {\n  lines: [redacted]\n}'
    assert scrub("service_name=notifier hostname=db-1") == "service_name=notifier hostname=db-1"
