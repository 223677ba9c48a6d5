"""Refresh the message catalogues from the templates and pages: every msgid in
`_("…")` plus the values shown through `_()` (roles, stages, outcomes, flags).
Existing translations are kept; new msgids arrive untranslated for a translator.

    python services/console/tools/catalogues.py
"""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "collections_console"
CALL = re.compile(r"""_\((?:"([^"]+)"|'([^']+)')\)""")
SHOWN_VALUES = ["agent", "supervisor", "compliance", "reminder", "early", "letter", "field", "agency", "legal",
                "no-answer", "right-party-contact", "wrong-number", "refused", "cease-contact", "attorney",
                "bankruptcy", "deceased", "breathing-space", "vulnerable",
                "Enter a user name (letters, digits, . _ -) and pick a role."]


def msgids() -> list[str]:
    found = set(SHOWN_VALUES)
    for path in [*PACKAGE.glob("templates/*.html"), *PACKAGE.glob("pages/*.py")]:
        found |= {a or b for a, b in CALL.findall(path.read_text(encoding="utf-8"))}
    return sorted(found)


def refresh(folder: str) -> Path:
    path = PACKAGE / "locale" / folder / "LC_MESSAGES" / "messages.po"
    known = {}
    if path.exists():
        with open(path, "rb") as source:
            known = {m.id: m.string for m in read_po(source) if m.id}
    catalog = Catalog(locale=folder, project="collections-console", charset="utf-8")
    for msgid in msgids():
        catalog.add(msgid, known.get(msgid, ""))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as target:
        write_po(target, catalog, width=0, omit_header=False)
    return path


if __name__ == "__main__":
    for folder in ("zh_CN", "en"):
        print(refresh(folder))
