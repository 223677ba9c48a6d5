"""The font a letter is set in.

fpdf2 parses a letter's font for every document it renders. The whole CJK font
(about 50,000 glyphs) costs about a third of a second of CPU per letter; a cut of it
holding what nearly every letter needs — Latin, punctuation, currency and
full-width forms, and the 6,763 hanzi of GB 2312 — costs under a third of that. The
cut is made once per process, on the first letter. A letter with a character the cut
lacks (a rare character in a name) is set in the whole font, so no customer's name
is ever printed as a box.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

from fontTools import subset, ttLib

_RANGES = ((0x20, 0x250), (0x2000, 0x2070), (0x20A0, 0x20C0), (0x2100, 0x2200), (0x3000, 0x3040),
           (0xFF00, 0xFFF0))


def _gb2312_hanzi() -> set[int]:
    found = set()
    for high in range(0xB0, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                found.add(ord(bytes((high, low)).decode("gb2312")))
            except UnicodeDecodeError:
                pass  # the unassigned cells of the last rows
    return found


class LetterFonts:
    def __init__(self, whole: Path, folder: Path | None = None) -> None:
        self.whole = whole
        self._folder = folder
        self._scratch: tempfile.TemporaryDirectory | None = None
        self._cut: Path | None = None
        self._covers: frozenset[int] = frozenset()
        self._making = threading.Lock()

    def for_text(self, text: str) -> Path:
        """The cut when it has every character of ``text``, else the whole font."""
        self._make_cut()
        return self._cut if all(ord(c) in self._covers for c in text if not c.isspace()) else self.whole

    def _make_cut(self) -> None:
        with self._making:  # letters render in worker threads: one makes the cut, the others wait
            if self._cut is not None:
                return
            font = ttLib.TTFont(self.whole, fontNumber=0, recalcTimestamp=False)
            wanted = {code for low, high in _RANGES for code in range(low, high)} | _gb2312_hanzi()
            options = subset.Options()
            options.layout_features, options.notdef_outline, options.name_IDs = [], True, ["*"]
            options.drop_tables += ["FFTM"]  # a table the subsetter cannot cut: dropped without a warning
            cutter = subset.Subsetter(options)
            cutter.populate(unicodes=wanted)
            cutter.subset(font)
            if self._folder is None:  # /tmp, an emptyDir in the deployment; removed with this object
                self._scratch = tempfile.TemporaryDirectory(prefix="letter-font-")
                self._folder = Path(self._scratch.name)
            path = self._folder / f"{self.whole.stem}-letters.ttf"
            font.save(path)
            self._covers = frozenset(font.getBestCmap())
            self._cut = path
