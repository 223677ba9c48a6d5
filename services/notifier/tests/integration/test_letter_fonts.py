"""Letters are set in a font of their own, cut from the CJK font's GB 2312 cut, or in the
whole font when a character needs it: either way every character of the letter is printed,
drawn as the whole font draws it."""

import io
import json
from pathlib import Path

import pytest
from fontTools import ttLib
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


COMMON = "李雷 建国路88号 催收函 ¥1,234.56，。PRIVATE AND CONFIDENTIAL £€…"


def test_a_common_letter_gets_a_font_of_its_own_and_a_name_outside_gb2312_the_whole_font(tmp_path):
    fonts = LetterFonts(WHOLE, tmp_path)
    with fonts.for_text(COMMON) as own:
        assert own != WHOLE and own.parent == tmp_path
        assert own.stat().st_size < WHOLE.stat().st_size / 100
        cmap = ttLib.TTFont(own).getBestCmap()
        assert set(cmap) == {ord(c) for c in COMMON}
    assert not own.exists()
    for rare in ("王喆", "赵堃"):
        with fonts.for_text(rare) as font:
            assert font == WHOLE


def test_a_letters_font_draws_and_spaces_every_character_as_the_whole_font_does(tmp_path):
    whole = ttLib.TTFont(WHOLE, fontNumber=0)
    with LetterFonts(WHOLE, tmp_path).for_text(COMMON) as path:
        own = ttLib.TTFont(path)
        assert own["head"].unitsPerEm == whole["head"].unitsPerEm
        assert (own["hhea"].ascent, own["hhea"].descent) == (whole["hhea"].ascent, whole["hhea"].descent)
        for code in {ord(c) for c in COMMON}:
            mine, theirs = own.getBestCmap()[code], whole.getBestCmap()[code]
            assert own["hmtx"].metrics[mine] == whole["hmtx"].metrics[theirs], chr(code)
            drawn, reference = own["glyf"][mine], whole["glyf"][theirs]
            assert (drawn.getCoordinates(own["glyf"])[0] == reference.getCoordinates(whole["glyf"])[0]), chr(code)


@pytest.mark.parametrize("name", ["李雷", "王喆"])
def test_every_character_of_the_letter_is_printed(tmp_path, name):
    text = PdfReader(io.BytesIO(render_letter(letter(name), LetterFonts(WHOLE, tmp_path)))).pages[0].extract_text()
    for required in (name, "建国路88号", "催收函", "¥1,234.56", "PRIVATE"):
        assert required in text.replace("\n", ""), required
