"""The catalogue lints clean, renders strictly, and the lint catches each banned
class and each missing element."""

import pytest
from notifier.domain.sms_segments import encoding, segments
from notifier.domain.template_lint import BANNED, LETTER_ELEMENTS, lint_template
from notifier.templates import LANGUAGES, SAMPLE, Catalogue, TemplateInvalid, join, money

PURPOSES = ["reminder", "overdue", "collection", "collection-letter", "validation-notice", "bureau-prenotice",
            "promise-confirmation", "plan-confirmation", "opt-out-confirmation"]


def test_the_shipped_catalogue_lints_clean_and_covers_every_purpose_in_both_languages():
    catalogue = Catalogue()
    assert catalogue.lint() == []
    for purpose in PURPOSES:
        for language in LANGUAGES:
            assert any(key.startswith(purpose + ".") and lang == language for key, lang in catalogue.keys()), \
                (purpose, language)


def test_a_missing_parameter_fails_the_render_instead_of_leaving_a_hole():
    parameters = {k: v for k, v in SAMPLE.items() if k != "amount_minor"}
    with pytest.raises(TemplateInvalid, match="amount_minor"):
        Catalogue().render("overdue.sms", "zh-CN", parameters)


def test_templates_run_sandboxed(tmp_path):
    (tmp_path / "evil.sms.en.j2").write_text("{{ customer_name.__class__.__mro__ }}")
    with pytest.raises(TemplateInvalid):
        Catalogue(tmp_path).render("evil.sms", "en", {"customer_name": "x"})


def test_rendering_picks_the_customers_language_and_formats_minor_units():
    rendered = Catalogue().render("overdue.email", "zh-Hans-CN", SAMPLE)
    assert rendered.subject == "Example Bank信用卡逾期通知"
    assert "¥1,234.56" in rendered.body and "退订" in rendered.body
    assert money("5", "USD") == "$0.05" and money("1500", "JPY") == "JPY 1,500"


CLEAN = {
    "zh-CN": "【银行】{{ customer_name }}，您的欠款{{ amount_minor }}已逾期，请致电{{ bank_hotline }}。回复TD退订",
    "en": "Bank: {{ customer_name }}, {{ amount_minor }} is past due, call {{ bank_hotline }}. Reply STOP to opt out",
}
BANNED_CASES = [(language, banned_class, phrase) for language, classes in BANNED.items()
                for banned_class, phrases in classes.items() for phrase in phrases[:1]]


@pytest.mark.parametrize("language,banned_class,phrase", BANNED_CASES,
                         ids=[f"{lang}-{cls}" for lang, cls, _ in BANNED_CASES])
def test_each_banned_class_is_caught(language, banned_class, phrase):
    variables = frozenset({"customer_name", "amount_minor", "bank_hotline"})
    assert lint_template("overdue.sms", language, CLEAN[language], variables, "short") == []
    dirty = CLEAN[language] + " " + phrase.upper()
    findings = lint_template("overdue.sms", language, dirty, variables, "short")
    assert [(f.rule, f.detail) for f in findings] == [(f"banned:{banned_class}", phrase)]


LETTER = ("{{ customer_name }} owes {{ amount_minor }} under the card agreement. You have the right to dispute: "
          "{{ dispute_contact }}. Call {{ bank_hotline }}.")
LETTER_VARIABLES = frozenset({"customer_name", "amount_minor", "dispute_contact", "bank_hotline"})
REMOVALS = {
    "name": ("{{ customer_name }}", "customer_name"), "amount": ("{{ amount_minor }}", "amount_minor"),
    "basis": ("under the card agreement", None), "rights": ("You have the right to dispute", None),
    "how to dispute": ("{{ dispute_contact }}", "dispute_contact"),
    "bank contact": ("{{ bank_hotline }}", "bank_hotline"),
}


@pytest.mark.parametrize("element", [e.name for e in LETTER_ELEMENTS])
def test_each_missing_element_of_a_collection_letter_is_caught(element):
    assert lint_template("collection-letter.letter", "en", LETTER, LETTER_VARIABLES, "") == []
    text, variable = REMOVALS[element]
    source = LETTER.replace(text, "")
    variables = LETTER_VARIABLES - {variable} if variable else LETTER_VARIABLES
    findings = lint_template("collection-letter.letter", "en", source, variables, "")
    assert [(f.rule, f.detail) for f in findings] == [("missing-element", element)]


def test_an_sms_without_an_opt_out_is_caught():
    source = CLEAN["en"].replace(" Reply STOP to opt out", "")
    findings = lint_template("overdue.sms", "en", source, frozenset(), "short")
    assert [(f.rule, f.detail) for f in findings] == [("missing-element", "opt-out")]


@pytest.mark.parametrize("text,expected_encoding,expected_segments", [
    ("a" * 160, "GSM-7", 1), ("a" * 161, "GSM-7", 2), ("a" * 306, "GSM-7", 2), ("a" * 307, "GSM-7", 3),
    ("€" * 80, "GSM-7", 1), ("€" * 81, "GSM-7", 2),
    ("逾" * 70, "UCS-2", 1), ("逾" * 71, "UCS-2", 2), ("a" * 159 + "逾", "UCS-2", 3),
])
def test_sms_segments(text, expected_encoding, expected_segments):
    assert encoding(text) == expected_encoding and segments(text) == expected_segments


def test_an_sms_over_its_segment_budget_is_caught():
    findings = lint_template("overdue.sms", "zh-CN", CLEAN["zh-CN"], frozenset(), "逾" * 300)
    assert [f.rule for f in findings] == ["sms-segments"]


def _jinja_render(catalogue: Catalogue, key: str, language: str, parameters: dict) -> str:
    """What Jinja2 itself makes of the template (or its error), for comparing the split rendering with."""
    try:
        return catalogue._environment.get_template(f"{key}.{language}.j2").render(parameters)
    except Exception as error:  # the comparison is of whatever Jinja2 raises
        return f"{type(error).__name__}: {error}"


def _split_render(catalogue: Catalogue, key: str, language: str, parameters: dict) -> str:
    try:
        return join(catalogue._pieces(f"{key}.{language}.j2"), parameters)
    except Exception as error:  # likewise
        return f"{type(error).__name__}: {error}"


def test_every_shipped_template_renders_split_exactly_as_jinja2_does_with_the_same_errors():
    catalogue = Catalogue()
    for key, language in catalogue.keys():
        assert catalogue._pieces(f"{key}.{language}.j2") is not None, (key, language)  # not left to Jinja2
        names = sorted(catalogue.variables(key))
        cases = [SAMPLE, {**SAMPLE, "amount_minor": 7, "card_last4": None}, {**SAMPLE, "amount_minor": "12x"}]
        cases += [{k: v for k, v in SAMPLE.items() if k not in gone}
                  for gone in [{a} for a in names] + [{a, b} for a in names for b in names if a < b]]
        for parameters in cases:
            assert _split_render(catalogue, key, language, parameters) == \
                _jinja_render(catalogue, key, language, parameters), (key, language, parameters)
    without_money = {k: v for k, v in SAMPLE.items() if k not in ("amount_minor", "currency")}
    assert _split_render(catalogue, "overdue.sms", "en", without_money) == "UndefinedError: 'currency' is undefined"


def test_a_template_with_more_than_substitutions_is_rendered_by_jinja2(tmp_path):
    (tmp_path / "logic.sms.en.j2").write_text("{% if late %}Late: {% endif %}{{ customer_name | upper }}\n")
    (tmp_path / "plain.sms.en.j2").write_text("Dear {{ customer_name }}, {{ range }}\n")
    catalogue = Catalogue(tmp_path)
    assert catalogue._pieces("logic.sms.en.j2") is None and catalogue._pieces("plain.sms.en.j2") is None
    assert catalogue.render("logic.sms", "en", {"late": True, "customer_name": "li"}).body == "Late: LI"
    with pytest.raises(TemplateInvalid, match="no-such"):
        catalogue.render("no-such.sms", "en", {})
