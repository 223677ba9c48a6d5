"""E-mail through a real SMTP server and letters as PDFs with Chinese text through
a real stand-in print vendor."""

import asyncio
import io
import threading

from datetime import timedelta

import pytest
import uvicorn
from collections_core.contracts.collections.v1 import contacts_pb2
from collections_core.contracts.corebanking.v1 import customers_pb2
from notifier.standins.mail_and_print import MailServer, create_print_vendor
from pypdf import PdfReader

pytestmark = pytest.mark.integration

LETTER = {"amount_minor": "123456", "currency": "CNY", "card_last4": "1234", "as_of_date": "2026-11-01",
          "days_past_due": "45", "pay_by_date": "2026-11-20"}


def free_port() -> int:
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def customer(customer_id: str, zone: str = "Asia/Shanghai", language: str = "zh-CN"):
    return customers_pb2.CustomerUpserted(
        customer_id=customer_id, name="李雷", phone="+8613800138000", email="li.lei@example.cn",
        address=customers_pb2.PostalAddress(lines=["建国路88号", "2单元301"], city="北京", postal_code="100022",
                                            country="CN"), time_zone=zone, language=language)


def contact(request_id: str, customer_id: str, channel, template: str, parameters: dict):
    return contacts_pb2.ContactRequested(request_id=request_id, account_id="A-1", customer_id=customer_id,
                                         case_id="K-1", channel=channel, template=template, parameters=parameters)


@pytest.fixture
def mail_server():
    server = MailServer(port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def print_vendor():
    port = free_port()
    app = create_print_vendor()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}", app.state.letters
    server.should_exit = True
    await task


async def test_an_email_carries_list_unsubscribe_and_a_resend_after_a_crash_is_dropped_by_message_id(
        notifier_runtime, deliver, mail_server, clock):
    runtime = await notifier_runtime(smtp_port=mail_server.controller.port, dispatch_on_arrival=False)
    await deliver(runtime, customer("C-1"), "C-1")
    await deliver(runtime, contact("R-1", "C-1", contacts_pb2.CHANNEL_EMAIL, "overdue.email",
                                   {"amount_minor": "50000", "currency": "CNY", "card_last4": "1234"}), "C-1")
    async with runtime.unit_of_work() as work:
        [(_, outgoing)] = await runtime.dispatcher.prepare(work, await runtime.dispatcher.claim(work))
    await runtime.dispatcher.channels["email"].send(outgoing)  # accepted; the process "dies" before recording it
    clock.advance(timedelta(seconds=runtime.settings.dispatch_claim_seconds))  # the dead round's lease ends
    await runtime.dispatcher.dispatch_due(runtime)
    [message] = mail_server.inbox.messages
    assert mail_server.inbox.stats["duplicate_attempts"] == 1
    assert message["To"] == "li.lei@example.cn" and message["Message-ID"] == "<R-1@notifier.card-collections>"
    assert message["List-Unsubscribe"].strip().startswith("<https://bank.example/opt-out/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    body = message.get_payload(decode=True).decode()
    assert "¥500.00" in body and "退订" in body


async def test_an_smtp_outage_keeps_the_email_waiting(notifier_runtime, deliver, mail_server):
    from notifier.channels import ChannelUnavailable
    runtime = await notifier_runtime(smtp_port=mail_server.controller.port)
    await deliver(runtime, customer("C-1"), "C-1")
    await deliver(runtime, contact("R-1", "C-1", contacts_pb2.CHANNEL_EMAIL, "overdue.email",
                                   {"amount_minor": "50000", "currency": "CNY", "card_last4": "1234"}), "C-1")
    mail_server.inbox.fail_next = 1
    with pytest.raises(ChannelUnavailable):
        await runtime.dispatcher.dispatch_due(runtime)
    assert mail_server.inbox.messages == []
    await runtime.dispatcher.dispatch_due(runtime)
    assert len(mail_server.inbox.messages) == 1


async def a_collection_letter_sent(notifier_runtime, deliver, print_vendor) -> list:
    """R-1 to a customer in Beijing, sent by one dispatch round; what the print vendor received."""
    url, letters = print_vendor
    runtime = await notifier_runtime(print_vendor_url=url)
    await deliver(runtime, customer("C-1"), "C-1")
    await deliver(runtime, contact("R-1", "C-1", contacts_pb2.CHANNEL_LETTER, "collection-letter.letter", LETTER),
                  "C-1")
    await runtime.dispatcher.dispatch_due(runtime)
    return letters


async def test_a_collection_letter_is_a_pdf_with_its_chinese_text_and_required_content(
        notifier_runtime, deliver, print_vendor):
    [letter] = await a_collection_letter_sent(notifier_runtime, deliver, print_vendor)
    assert letter["key"] == "R-1"
    # Lines wrap where the page ends: compare without the line breaks.
    text = PdfReader(io.BytesIO(letter["pdf"])).pages[0].extract_text().replace("\n", "")
    for required in ("催收函", "李雷", "¥1,234.56", "信用卡领用合约", "您有权", "95555 ext. 2", "95555",
                     "建国路88号"):
        assert required in text, required


async def test_a_letter_is_rendered_off_the_event_loop(notifier_runtime, deliver, print_vendor, monkeypatch):
    from notifier.channels import letters as channel

    rendered_on, render = [], channel.render_letter

    def recording(message, fonts):
        rendered_on.append(threading.current_thread())
        return render(message, fonts)

    monkeypatch.setattr(channel, "render_letter", recording)
    letters = await a_collection_letter_sent(notifier_runtime, deliver, print_vendor)
    assert len(letters) == 1 and len(rendered_on) == 1
    assert rendered_on[0] is not threading.main_thread(), "the loop's thread would stop for the font's parsing"


async def test_a_uk_letter_is_marked_private_and_confidential(notifier_runtime, deliver, print_vendor):
    url, letters = print_vendor
    runtime = await notifier_runtime(print_vendor_url=url, default_pack="UK")
    await deliver(runtime, customer("C-UK", "Europe/London", "en"), "C-UK")
    await deliver(runtime, contact("R-1", "C-UK", contacts_pb2.CHANNEL_LETTER, "collection-letter.letter",
                                   {**LETTER, "currency": "GBP"}), "C-UK")
    await runtime.dispatcher.dispatch_due(runtime)
    text = PdfReader(io.BytesIO(letters[0]["pdf"])).pages[0].extract_text().replace("\n", " ")
    assert text.startswith("PRIVATE AND CONFIDENTIAL")
    assert "You have the right to dispute" in text and "£1,234.56" in text


async def test_email_keeps_its_smtp_connection_and_replaces_one_the_relay_dropped():
    from notifier.channels import Accepted, Outgoing
    from notifier.channels.email import EmailSender

    def peers_of(server: MailServer) -> list:
        seen, accept = [], server.inbox.handle_DATA

        async def handle_data(smtp, session, envelope):
            seen.append(session.peer)
            return await accept(smtp, session, envelope)

        server.inbox.handle_DATA = handle_data
        return seen

    def email(n: int) -> Outgoing:
        return Outgoing(idempotency_key=f"keep-{n}", channel="email", to="li.lei@example.cn", body=f"message {n}",
                        subject="账单提醒")

    mail_server = MailServer(port=free_port())
    mail_server.start()
    sender = EmailSender("127.0.0.1", mail_server.port, "collections@bank.example", timeout=5, keep=2)
    first = peers_of(mail_server)
    try:
        for n in range(3):
            assert isinstance(await sender.send(email(n)), Accepted)
        assert len(first) == 3 and len(set(first)) == 1, "one connection carried the three messages"
        mail_server.stop()  # the relay restarts: the kept connection is gone
        restarted = MailServer(port=mail_server.port)
        restarted.start()
        try:
            again = peers_of(restarted)
            assert isinstance(await sender.send(email(3)), Accepted)
            assert [m["Message-ID"] for m in restarted.inbox.messages] == ["<keep-3@notifier.card-collections>"]
            assert len(again) == 1
        finally:
            restarted.stop()
    finally:
        await sender.close()
