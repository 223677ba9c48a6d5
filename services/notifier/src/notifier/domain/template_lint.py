"""Template lint: what a collections message may never say, and what each kind
must say.

Banned phrases come in classes (threats, insults, impersonating police, courts
or government, fake blacklists, exaggerated amounts or consequences), per
language; matching is case-insensitive on the template's own text. Required
elements are per template kind: a collection letter (催收函) names the customer,
the amount, the basis (the card agreement), the customer's rights, how to
dispute and how to reach the bank; every SMS and email that asks for money
carries an opt-out (Reg F §1006.6(e) for the US pack; the bank applies it
everywhere). SMS templates must fit their segment budget once rendered.
"""

from __future__ import annotations

from dataclasses import dataclass

from notifier.domain.sms_segments import segments

BANNED: dict[str, dict[str, tuple[str, ...]]] = {
    "zh-CN": {
        "threat": ("坐牢", "抓你", "后果自负", "让你好看", "上门找你家人", "曝光你"),
        "insult": ("老赖", "骗子", "无赖", "废物", "不要脸"),
        "impersonation": ("公安局通知", "警察", "法院传票", "检察院", "政府部门通知"),
        "fake-blacklist": ("黑名单", "失信名单"),
        "exaggeration": ("十倍罚息", "全部财产", "立即冻结所有"),
    },
    "en": {
        "threat": ("arrest", "jail", "prison", "we will seize", "you will regret"),
        "insult": ("deadbeat", "liar", "scum", "loser", "shameless"),
        "impersonation": ("police", "court summons", "sheriff", "government agency", "law enforcement"),
        "fake-blacklist": ("blacklist",),
        "exaggeration": ("triple the amount", "all your assets", "your entire salary"),
    },
}

OPT_OUT = {"zh-CN": ("退订",), "en": ("opt out", "STOP")}


@dataclass(frozen=True)
class Element:
    """Present when the template uses one of ``variables`` or contains one of the phrases of its language."""

    name: str
    variables: tuple[str, ...] = ()
    phrases: dict[str, tuple[str, ...]] | None = None


LETTER_ELEMENTS = (
    Element("name", ("customer_name",)),
    Element("amount", ("amount_minor",)),
    Element("basis", phrases={"zh-CN": ("合约", "征信业管理条例", "债务"),
                              "en": ("agreement", "debt", "past due")}),
    Element("rights", phrases={"zh-CN": ("您有权",), "en": ("You have the right",)}),
    Element("how to dispute", ("dispute_contact",)),
    Element("bank contact", ("bank_hotline",)),
)
REQUIRED: dict[str, tuple[Element, ...]] = {
    "collection-letter.letter": LETTER_ELEMENTS,
    "validation-notice.letter": LETTER_ELEMENTS + (Element("dispute deadline", ("dispute_deadline",)),),
    "validation-notice.email": LETTER_ELEMENTS + (Element("dispute deadline", ("dispute_deadline",)),),
    "bureau-prenotice.letter": LETTER_ELEMENTS + (Element("reporting date", ("report_after_date",)),),
}
NO_OPT_OUT_NEEDED = frozenset({"opt-out-confirmation.sms"})
SMS_SEGMENT_BUDGET = 3


@dataclass(frozen=True)
class Finding:
    template: str
    rule: str
    detail: str


def lint_template(key: str, language: str, source: str, variables: frozenset[str],
                  rendered_sample: str) -> list[Finding]:
    """``key`` is "<purpose>.<channel>"; ``variables`` are those the template uses."""
    name = f"{key}.{language}"
    findings = []
    lowered = source.lower()
    for banned_class, phrases in BANNED.get(language, {}).items():
        for phrase in phrases:
            if phrase.lower() in lowered:
                findings.append(Finding(name, f"banned:{banned_class}", phrase))
    for element in REQUIRED.get(key, ()):
        phrases = (element.phrases or {}).get(language, ())
        if not (variables & set(element.variables)) and not any(p.lower() in lowered for p in phrases):
            findings.append(Finding(name, "missing-element", element.name))
    channel = key.rsplit(".", 1)[-1]
    if channel in ("sms", "email") and key not in NO_OPT_OUT_NEEDED:
        if not any(p.lower() in lowered for p in OPT_OUT[language]):
            findings.append(Finding(name, "missing-element", "opt-out"))
    if channel == "sms" and segments(rendered_sample) > SMS_SEGMENT_BUDGET:
        findings.append(Finding(name, "sms-segments", f"{segments(rendered_sample)} parts"))
    return findings
