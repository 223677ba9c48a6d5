"""The font a letter is set in.

fpdf2 parses the font file of every document it renders, and fontTools then walks
every glyph of it: for the whole CJK font (about 50,000 glyphs) about a third of a
second of CPU per letter, for a cut holding the 6,763 hanzi of GB 2312 still 0.1–0.25 s
(the default demo's letters cost the notifier most of its CPU). So the cut — Latin,
punctuation, currency and full-width forms, and the hanzi of GB 2312 — is made and
parsed once per process and kept in memory, and each letter gets a font file of its
own holding only the glyphs of its characters (a hundred or two), built from the cut's
glyphs with their outlines and metrics unchanged. A letter with a character the cut
lacks (a rare character in a name) is set in the whole font, so no customer's name is
ever printed as a box.
"""

from __future__ import annotations

import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fontTools import subset, ttLib
from fontTools.fontBuilder import FontBuilder

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


class _Cut:
    """The cut, parsed once; read by several letters' worker threads at once, never changed."""

    def __init__(self, font: ttLib.TTFont) -> None:
        self.cmap = font.getBestCmap()
        self.glyf = font["glyf"]
        for name in font.getGlyphOrder():
            self.glyf[name].expand(self.glyf)  # decompiled now, so letters only read them
        self.metrics = font["hmtx"].metrics
        self.head, self.hhea, self.os2, self.post = font["head"], font["hhea"], font["OS/2"], font["post"]
        self.covers = frozenset(self.cmap)

    def save_for(self, codes: set[int], path: Path) -> None:
        """A font of the glyphs of `codes` (each in the cut), with the cut's outlines and metrics."""
        mapped = {code: self.cmap[code] for code in codes}
        names, todo = {".notdef"}, [".notdef", *mapped.values()]
        while todo:  # a composite glyph needs its components
            name = todo.pop()
            names.add(name)
            glyph = self.glyf[name]
            if glyph.isComposite():
                todo += [component for component in glyph.getComponentNames(self.glyf) if component not in names]
        order = [".notdef", *sorted(names - {".notdef"})]
        head, hhea, os2 = self.head, self.hhea, self.os2
        builder = FontBuilder(head.unitsPerEm, isTTF=True)
        builder.setupGlyphOrder(order)
        builder.setupCharacterMap(mapped)
        builder.setupGlyf({name: self.glyf[name] for name in order})
        builder.setupHorizontalMetrics({name: self.metrics[name] for name in order})
        builder.setupHorizontalHeader(ascent=hhea.ascent, descent=hhea.descent, lineGap=hhea.lineGap)
        builder.setupNameTable({"familyName": "Letter", "styleName": "Regular"})
        builder.setupOS2(sTypoAscender=os2.sTypoAscender, sTypoDescender=os2.sTypoDescender,
                         sTypoLineGap=os2.sTypoLineGap, usWinAscent=os2.usWinAscent, usWinDescent=os2.usWinDescent,
                         usWeightClass=os2.usWeightClass, sxHeight=getattr(os2, "sxHeight", 0),
                         sCapHeight=getattr(os2, "sCapHeight", 0), fsType=os2.fsType)
        builder.setupPost(italicAngle=self.post.italicAngle, isFixedPitch=self.post.isFixedPitch)
        builder.font["head"].macStyle = head.macStyle
        builder.save(str(path))


class LetterFonts:
    def __init__(self, whole: Path, folder: Path | None = None) -> None:
        self.whole = whole
        self._folder = folder
        self._scratch: tempfile.TemporaryDirectory | None = None
        self._cut: _Cut | None = None
        self._making = threading.Lock()

    @contextmanager
    def for_text(self, text: str) -> Iterator[Path]:
        """A font file with every character of ``text``: the letter's own when the cut has
        them all (removed afterwards), else the whole font. fpdf2 reads the file until the
        document is output, so render inside the block."""
        cut = self._the_cut()
        codes = {ord(c) for c in text if not c.isspace()} | {ord(" ")}
        if not codes <= cut.covers:
            yield self.whole
            return
        path = self._folder / f"letter-{uuid.uuid4().hex}.ttf"
        cut.save_for(codes, path)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

    def _the_cut(self) -> _Cut:
        with self._making:  # letters render in worker threads: one makes the cut, the others wait
            if self._cut is None:
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
                self._cut = _Cut(font)
            return self._cut
