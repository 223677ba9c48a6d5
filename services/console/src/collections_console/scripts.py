"""Call scripts as data: per contact-policy pack, per stage, in each UI language
(scripts/<pack>.yaml). The case page reads the stage's script; the call panel reads
why a refused call was refused."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

SCRIPTS = Path(__file__).parent / "scripts"


@dataclass(frozen=True, slots=True)
class CallScript:
    opening: str
    disclosures: tuple[str, ...]
    consequences: tuple[str, ...]


@cache
def _pack(pack: str) -> dict:
    with open(SCRIPTS / f"{pack}.yaml", encoding="utf-8") as source:
        return yaml.safe_load(source)


def check_scripts(pack: str) -> None:
    """Every stage has an opening, disclosures and consequences in English at least."""
    stages = _pack(pack)["stages"]
    for stage, script in stages.items():
        for part in ("opening", "disclosures", "consequences"):
            texts = [script[part]] if part == "opening" else script[part]
            if not texts or any("en" not in text for text in texts):
                raise ValueError(f"scripts/{pack}.yaml: stage {stage} needs {part} with an English text")


def _say(texts: dict[str, str], language: str) -> str:
    return texts.get(language) or texts["en"]


def call_script(pack: str, stage: str, language: str, **names: str) -> CallScript | None:
    found = _pack(pack)["stages"].get(stage)
    if found is None:
        return None
    return CallScript(opening=_say(found["opening"], language).format(**names),
                      disclosures=tuple(_say(d, language) for d in found["disclosures"]),
                      consequences=tuple(_say(c, language) for c in found["consequences"]))


def rule_explained(pack: str, rule: str | None, language: str) -> str | None:
    texts = _pack(pack)["rules"].get(rule or "")
    return _say(texts, language) if texts else None
