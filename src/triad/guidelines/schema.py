"""The guideline document: YAML or JSON, validated before it is stored.

    name: Company billing guidelines
    rules:
      rate_cap:
        severity: reject-line
        action: reduce
        clause: "4.1 Rates above the approved caps are paid at the cap."
        by_classification: {PARTNR: "950.00", ASSOC: "600.00"}

Every key under ``rules`` must be a known rule id; its settings are checked against that rule's
model (unknown settings are refused, amounts are strings). See docs/guidelines.md.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from triad.guidelines.registry import rules


class GuidelineDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    rules: dict[str, dict[str, Any]] = Field(default_factory=dict)


class DocumentError(ValueError):
    def __init__(self, errors: list[dict[str, str]]):
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


class _ExactLoader(yaml.SafeLoader):
    """YAML with numbers like 550.00 read as exact Decimals, never floats."""


def _decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    text = loader.construct_scalar(node).replace("_", "")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise yaml.constructor.ConstructorError(None, None, f"{text!r} is not a number", node.start_mark) from None
    if not value.is_finite():
        raise yaml.constructor.ConstructorError(None, None, f"{text!r} is not a finite number", node.start_mark)
    return value


_ExactLoader.add_constructor("tag:yaml.org,2002:float", _decimal)


def load_text(text: str | bytes) -> dict[str, Any]:
    """Parse YAML (JSON is valid YAML) into plain data, numbers with a fraction as Decimal; a
    syntax error names the line."""
    try:
        data = yaml.load(text, Loader=_ExactLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "document"
        raise DocumentError([{"field": where, "message": f"not valid YAML/JSON: {getattr(exc, 'problem', exc)}"}]
                            ) from None
    if not isinstance(data, dict):
        raise DocumentError([{"field": "document", "message": "must be a mapping with name and rules"}])
    return data


def validate_document(data: dict[str, Any]) -> GuidelineDocument:
    """Check a document and every rule's settings; raise DocumentError listing every problem."""
    errors: list[dict[str, str]] = []
    try:
        doc = GuidelineDocument.model_validate(data)
    except ValidationError as exc:
        raise DocumentError([{"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()]
                            ) from None
    known = rules()
    clean: dict[str, dict[str, Any]] = {}
    for rule_id, settings in doc.rules.items():
        spec = known.get(rule_id)
        if spec is None:
            errors.append({"field": f"rules.{rule_id}",
                           "message": f"unknown rule; known rules: {', '.join(sorted(known))}"})
            continue
        try:
            clean[rule_id] = spec.settings.model_validate(settings or {}).model_dump(mode="json", exclude_unset=True)
        except ValidationError as exc:
            errors += [{"field": ".".join(["rules", rule_id, *map(str, e["loc"])]), "message": e["msg"]}
                       for e in exc.errors()]
    if errors:
        raise DocumentError(errors)
    return doc.model_copy(update={"rules": clean})


def merge(*layers: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Company rules, then firm overrides, then engagement overrides: later layers win key by key
    (one level deeper for mappings such as ``by_classification``)."""
    out: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for rule_id, settings in layer.items():
            cur = dict(out.get(rule_id, {}))
            for key, value in settings.items():
                if isinstance(value, dict) and isinstance(cur.get(key), dict):
                    cur[key] = {**cur[key], **value}
                else:
                    cur[key] = value
            out[rule_id] = cur
    return out
