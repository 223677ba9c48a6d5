"""Letters: rendered to PDF (fpdf2, with a CJK font so Chinese text is embedded
as real glyphs, not boxes) and handed to the print vendor's HTTP API with the
request id as ``Idempotency-Key``. A UK letter carries "Private and
confidential" above the address, as the UK pack asks.

Print vendor API: ``POST {base}/v1/letters`` (``application/pdf`` body,
``Idempotency-Key``, ``X-Reference``) → 202 ``{"id": …}``; a repeated key gets the
first answer. 4xx is permanent, 5xx and timeouts are transient.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
from fpdf import FPDF

from notifier.channels import Accepted, ChannelUnavailable, Outgoing, Refused
from notifier.channels.letter_fonts import LetterFonts
from notifier.metrics import PROVIDER_ERRORS, PROVIDER_LATENCY

FONT = "cjk"


def render_letter(message: Outgoing, fonts: LetterFonts) -> bytes:
    address = json.loads(message.to)
    lines = [*address.get("lines", []), " ".join(filter(None, [address.get("city"), address.get("region"),
                                                                address.get("postal_code")]))]
    recipient = "\n".join(line for line in lines if line)
    marking = message.marking.upper() if message.marking else ""
    title, _, body = message.body.partition("\n")
    with fonts.for_text(marking + recipient + title + body) as font:
        pdf = FPDF(format="A4")
        pdf.set_margins(20, 20, 20)
        pdf.add_page()
        pdf.add_font(FONT, fname=str(font), collection_font_number=0)  # the whole font is a collection
        pdf.set_font(FONT, size=11)
        if marking:
            pdf.multi_cell(0, 6, marking)
            pdf.ln(2)
        pdf.multi_cell(0, 6, recipient)
        pdf.ln(8)
        pdf.set_font(FONT, size=15)
        pdf.multi_cell(0, 9, title, align="C")
        pdf.ln(4)
        pdf.set_font(FONT, size=11)
        pdf.multi_cell(0, 7, body)
        return bytes(pdf.output())


class PrintVendor:
    def __init__(self, client: httpx.AsyncClient, base_url: str, font_path: Path) -> None:
        self.client, self.url, self.fonts = client, base_url.rstrip("/") + "/v1/letters", LetterFonts(font_path)

    async def send(self, message: Outgoing) -> Accepted | Refused:
        # Rendering builds and parses the letter's font for every document (letter_fonts.py):
        # CPU that would otherwise stop the event loop (SMS rounds, the consumer, probes).
        document = await asyncio.to_thread(render_letter, message, self.fonts)
        started = time.perf_counter()
        try:
            response = await self.client.post(self.url, content=document, headers={
                "Content-Type": "application/pdf", "Idempotency-Key": message.idempotency_key,
                "X-Reference": message.idempotency_key})
        except (httpx.TimeoutException, httpx.TransportError) as error:
            PROVIDER_ERRORS.labels("letter", "connection").inc()
            raise ChannelUnavailable(f"print vendor unavailable: {type(error).__name__}") from None
        PROVIDER_LATENCY.labels("letter").observe(time.perf_counter() - started)
        if response.status_code >= 500:
            PROVIDER_ERRORS.labels("letter", f"http-{response.status_code}").inc()
            raise ChannelUnavailable(f"print vendor answered {response.status_code}")
        if not response.is_success:
            return Refused(f"print vendor refused: HTTP {response.status_code}")
        return Accepted(str(response.json()["id"]))
