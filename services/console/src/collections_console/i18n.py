"""The UI's languages: Babel catalogues (locale/<lang>/LC_MESSAGES/messages.po).

The .po files are the only source: they are compiled in memory when the console
starts, so no compiled .mo is committed or can go stale (decision 0091)."""

from __future__ import annotations

import gettext
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES = Path(__file__).parent / "locale"
LANGUAGES = {"zh-CN": "zh_CN", "en": "en"}


@cache
def translations(language: str) -> gettext.NullTranslations:
    folder = LANGUAGES.get(language)
    if folder is None:
        return gettext.NullTranslations()
    with open(LOCALES / folder / "LC_MESSAGES" / "messages.po", "rb") as source:
        catalog = read_po(source, locale=folder)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def choose_language(chosen: str | None, accept_language: str, default: str) -> str:
    """The user's choice, else the browser's first supported language, else the default."""
    if chosen in LANGUAGES:
        return chosen
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip()
        if tag in LANGUAGES:
            return tag
        if tag.lower().startswith("zh"):
            return "zh-CN"
        if tag.lower().startswith("en"):
            return "en"
    return default
