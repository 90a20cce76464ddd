"""``json_dumps_large`` (orjson) gives ``json_dumps``'s exact text, and falls back where they would differ."""

from __future__ import annotations

import datetime as dt
import enum
import random
from decimal import Decimal

import pytest

from triad.core import db
from triad.core.db import json_dumps, json_dumps_large

ALPHABET = ["a", "Z", "0", " ", '"', "\\", "/", "\n", "\r", "\t", "\b", "\f", "\x00", "\x1f", "\x7f", "é", "\u2028",
            "\U0001f600", "<", "&", "'"]


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 6)))


def _value(rng: random.Random, depth: int = 0):
    kind = rng.randint(0, 9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 7, 2**53 + 1, -(2**63), 2**64 - 1])
    if kind == 3:
        return _text(rng)
    if kind == 4:
        return Decimal(rng.choice(["1.50", "-0.01", "1E+3", "123456789012345678.9"]))
    if kind == 5:
        return rng.choice([dt.date(2026, 11, 26), dt.datetime(2026, 11, 26, 21, 5, 3, 7, tzinfo=dt.UTC),
                           dt.datetime(2026, 1, 2, 3, 4, 5)])
    if kind == 6:
        return rng.choice(["plain ascii", "13-0000001", "021000021:000000001"])
    if kind == 7:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if kind == 8:
        return tuple(_value(rng, depth + 1) for _ in range(rng.randint(0, 3)))
    return {_text(rng) or "k": _value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def test_same_text_as_json_dumps_on_generated_data() -> None:
    rng = random.Random(13)
    for _ in range(3000):
        value = _value(rng)
        assert json_dumps_large(value) == json_dumps(value), value


def test_the_fast_path_is_taken_for_ascii_data_and_not_for_other_text(monkeypatch) -> None:
    """The equality above is not only the fallback's: orjson writes the plain data, json_dumps the rest."""
    calls: list[object] = []
    real = db.json_dumps
    monkeypatch.setattr(db, "json_dumps", lambda o: calls.append(o) or real(o))
    plain = [{"vendor_id": 1, "action": "vendor.updated", "before": {"addresses": []},
              "after": {"changed": {"line1": "1 Main St", "postal_code": None}, "on": dt.date(2026, 1, 2),
                        "amount": Decimal("1.50"), "ok": True, "quote": 'a"b\\c\n'}}]
    assert json_dumps_large(plain) == real(plain)
    assert calls == []
    for other in (["Müller GmbH"], ["\x7f"], [{1: "int key"}], [2**70], [dt.time(1, 2)]):
        calls.clear()
        try:
            expected = real(other)
        except TypeError:
            with pytest.raises(TypeError):
                json_dumps_large(other)
        else:
            assert json_dumps_large(other) == expected
        assert calls == [other]


def test_enums_and_str_subclasses_as_json_dumps_writes_them() -> None:
    class Status(enum.StrEnum):
        active = "active"

    class Tier(enum.IntEnum):
        high = 3

    value = {"status": Status.active, "tier": Tier.high, "list": [Status.active]}
    assert json_dumps_large(value) == json_dumps(value) == '{"list":["active"],"status":"active","tier":3}'
