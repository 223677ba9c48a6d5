"""Letters are set in a cut of the CJK font, or in the whole font when a character needs it:
either way every character of the letter is printed."""

import io
import json
from pathlib import Path

import pytest
from notifier.channels import Outgoing
from notifier.channels.letter_fonts import LetterFonts
from notifier.channels.letters import render_letter
from notifier.settings import NotifierSettings
from pypdf import PdfReader

pytestmark = pytest.mark.integration

WHOLE = Path(NotifierSettings.model_fields["letter_font_path"].default)


def letter(name: str) -> Outgoing:
    address = json.dumps({"lines": [name, "建国路88号"], "city": "北京", "postal_code": "100022"})
    return Outgoing("R-1", "letter", address, "催收函\n尊敬的客户，您的逾期金额为 ¥1,234.56。", marking="Private")


def test_a_common_letter_takes_the_cut_and_a_name_outside_gb2312_the_whole_font(tmp_path):
    fonts = LetterFonts(WHOLE, tmp_path)
    cut = fonts.for_text("李雷 建国路88号 催收函 ¥1,234.56，。PRIVATE AND CONFIDENTIAL £€…")
    assert cut != WHOLE and cut.parent == tmp_path
    assert cut.stat().st_size < WHOLE.stat().st_size / 2
    assert fonts.for_text("王喆") == WHOLE and fonts.for_text("赵堃") == WHOLE


@pytest.mark.parametrize("name", ["李雷", "王喆"])
def test_every_character_of_the_letter_is_printed(tmp_path, name):
    text = PdfReader(io.BytesIO(render_letter(letter(name), LetterFonts(WHOLE, tmp_path)))).pages[0].extract_text()
    for required in (name, "建国路88号", "催收函", "¥1,234.56", "PRIVATE"):
        assert required in text.replace("\n", ""), required
