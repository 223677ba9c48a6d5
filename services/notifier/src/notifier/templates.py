"""The template catalogue: ``templates/<purpose>.<channel>.<language>.j2``.

Rendered by a sandboxed Jinja2 environment with StrictUndefined, so a missing
parameter fails the render (and the contact is failed with that reason) instead
of sending a message with a hole in it. The catalogue is linted when the service
starts: a banned phrase or a missing element stops it.

A template made only of text, ``{{ name }}`` and ``{{ name | money(name) }}`` (every
shipped one) is split once into its pieces and rendered by joining them: Jinja2's
per-render context cost more than the rest of a contact's rendering (decision 0064).
The pieces are taken from Jinja2's own parse, and render exactly as Jinja2 does,
errors included (tests/unit/test_templates.py); anything else goes through Jinja2.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, TemplateNotFound, meta, nodes
from jinja2.exceptions import UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from notifier.domain.template_lint import Finding, lint_template

TEMPLATES = Path(__file__).parent / "templates"
LANGUAGES = ("zh-CN", "en")
SAMPLE = {
    "bank_name": "Example Bank", "bank_hotline": "95555", "bank_address": "1 Example Road, Shanghai",
    "dispute_contact": "95555-2", "opt_out_url": "https://bank.example/opt-out/abc",
    "customer_name": "李雷", "card_last4": "1234", "amount_minor": "123456", "currency": "CNY",
    "due_date": "2026-11-25", "days_past_due": "35", "as_of_date": "2026-11-28", "pay_by_date": "2026-12-10",
    "dispute_deadline": "2026-12-28", "report_after_date": "2026-12-28", "promise_date": "2026-12-05",
    "instalments": "6", "first_due_date": "2026-12-15",
}
# Filled in by the notifier itself: the bank's settings and the customer's contact point.
SUPPLIED = frozenset({"bank_name", "bank_hotline", "bank_address", "dispute_contact", "customer_name",
                      "opt_out_url"})
_SUBJECT_LABEL = re.compile(r"^(Subject:|主题：)")
_MINOR_DIGITS = {"JPY": 0, "KRW": 0}
_SYMBOL = {"CNY": "¥", "USD": "$", "GBP": "£", "EUR": "€"}


class TemplateInvalid(Exception):
    """The requested template does not exist or cannot be rendered with the given parameters."""


def money(amount_minor: str | int, currency: str) -> str:
    digits = _MINOR_DIGITS.get(currency, 2)
    amount = int(amount_minor)
    whole, fraction = divmod(abs(amount), 10**digits)
    text = f"{whole:,}" + (f".{fraction:0{digits}d}" if digits else "")
    return ("-" if amount < 0 else "") + _SYMBOL.get(currency, currency + " ") + text


# A split template: text as is, a name to substitute, or (amount name, currency name) for ``money``.
Piece = str | tuple[str] | tuple[str, str]


def split(template: nodes.Template, reserved: Collection[str]) -> list[Piece] | None:
    """The pieces of a parsed template, or None when it uses more than substitutions
    (or names one of Jinja2's globals, which a plain lookup would not find)."""
    if not template.body:
        return []
    if len(template.body) != 1 or type(template.body[0]) is not nodes.Output:
        return None
    pieces: list[Piece] = []
    for node in template.body[0].nodes:
        if type(node) is nodes.TemplateData:
            pieces.append(node.data)
        elif type(node) is nodes.Name and node.ctx == "load" and node.name not in reserved:
            pieces.append((node.name,))
        elif (type(node) is nodes.Filter and node.name == "money" and type(node.node) is nodes.Name
              and node.node.name not in reserved and len(node.args) == 1 and type(node.args[0]) is nodes.Name
              and node.args[0].name not in reserved and not node.kwargs and node.dyn_args is None
              and node.dyn_kwargs is None):
            pieces.append((node.node.name, node.args[0].name))
        else:
            return None
    return pieces


def join(pieces: Sequence[Piece], parameters: Mapping[str, object]) -> str:
    """A split template rendered, failing as StrictUndefined does on the first missing name."""
    out = []
    for piece in pieces:
        if type(piece) is str:
            out.append(piece)
            continue
        for name in reversed(piece):  # money() reads the currency before the amount
            if name not in parameters:
                raise UndefinedError(f"{name!r} is undefined")
        out.append(str(parameters[piece[0]]) if len(piece) == 1
                   else money(parameters[piece[0]], parameters[piece[1]]))
    return "".join(out)


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    body: str


def language_of(tag: str) -> str:
    return "zh-CN" if tag.lower().startswith("zh") else "en"


class Catalogue:
    def __init__(self, directory: Path = TEMPLATES) -> None:
        self.directory = directory
        self._environment = SandboxedEnvironment(loader=FileSystemLoader(directory), undefined=StrictUndefined,
                                                 autoescape=False, keep_trailing_newline=False, auto_reload=False)
        self._environment.filters["money"] = money

    @cache
    def keys(self) -> list[tuple[str, str]]:
        """(template key, language) for every file in the catalogue (read once: templates
        change with a deployment, and the lint runs on them at start-up)."""
        found = []
        for path in sorted(self.directory.glob("*.j2")):
            stem = path.name.removesuffix(".j2")
            key, _, language = stem.rpartition(".")
            found.append((key, language))
        return found

    def has(self, key: str) -> bool:
        return key in self._known_keys()

    @cache
    def _known_keys(self) -> frozenset[str]:
        return frozenset(key for key, _ in self.keys())

    @cache
    def variables(self, key: str) -> frozenset[str]:
        """Every name ``key`` reads in any language."""
        found: set[str] = set()
        for language in LANGUAGES:
            path = self.directory / f"{key}.{language}.j2"
            if path.exists():
                found |= meta.find_undeclared_variables(self._environment.parse(path.read_text()))
        return frozenset(found)

    @cache
    def parameters_needed(self, key: str) -> frozenset[str]:
        """What a request must carry for ``key`` in any language (the service and the
        contact point supply the rest)."""
        return self.variables(key) - SUPPLIED

    @cache
    def _pieces(self, name: str) -> list[Piece] | None:
        try:
            source = self._environment.loader.get_source(self._environment, name)[0]
        except TemplateNotFound:
            return None
        return split(self._environment.parse(source), self._environment.globals)

    def render(self, key: str, language: str, parameters: dict[str, str]) -> Rendered:
        name = f"{key}.{language_of(language)}.j2"
        try:
            pieces = self._pieces(name)
            text = (join(pieces, parameters) if pieces is not None
                    else self._environment.get_template(name).render(parameters))
        except TemplateError as error:
            raise TemplateInvalid(f"{key}: {error.message or type(error).__name__}") from None
        except (ValueError, TypeError) as error:
            raise TemplateInvalid(f"{key}: {error}") from None
        if key.endswith(".email"):
            first, _, body = text.partition("\n")
            return Rendered(_SUBJECT_LABEL.sub("", first).strip(), body)
        return Rendered(None, text)

    def lint(self) -> list[Finding]:
        findings = []
        for key, language in self.keys():
            source = (self.directory / f"{key}.{language}.j2").read_text()
            variables = frozenset(meta.find_undeclared_variables(self._environment.parse(source)))
            sample = self.render(key, language, SAMPLE).body
            findings.extend(lint_template(key, language, source, variables, sample))
        for key in {key for key, _ in self.keys()}:
            if not key.startswith("validation-notice"):
                for language in LANGUAGES:
                    if not (self.directory / f"{key}.{language}.j2").exists():
                        findings.append(Finding(f"{key}.{language}", "missing-translation", language))
        return findings
