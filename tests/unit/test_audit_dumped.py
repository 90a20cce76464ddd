"""``compute_hash_dumped`` (the hash of an event whose payload was serialised once, ``record_large``) gives what
``compute_hash`` gives for the same event, on varied seeded payloads."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from triad.audit.service import _canonical, compute_hash, compute_hash_dumped
from triad.core.db import json_dumps


def _value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.randint(-10**12, 10**12)
    if kind == 3:
        return "".join(rng.choice('ab "\\/é€\n\t{}:,') for _ in range(rng.randrange(12)))
    if kind == 4:
        return Decimal(rng.randint(-10**6, 10**6)) / 100
    if kind == 5:
        return dt.date(2020, 1, 1) + dt.timedelta(days=rng.randrange(2000))
    if kind == 6:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(5))]
    if kind == 7:
        return tuple(_value(rng, depth + 1) for _ in range(rng.randrange(3)))
    return {rng.choice(["vendor_id", "b", "A", "é", "z z", "_", "10", "9"]) + str(rng.randrange(3)):
            _value(rng, depth + 1) for _ in range(rng.randrange(6))}


def test_hash_of_dumped_text_equals_hash_of_the_values():
    rng = random.Random(6)
    for n in range(400):
        after = {"vendors": [_value(rng) for _ in range(rng.randrange(4))], "file": _value(rng), "n": n}
        fields = {"seq": rng.randrange(1, 10**9), "at": "2026-11-26T12:00:00.000001Z",
                  "actor": rng.choice(["cli", "bench", "ü"]), "actor_id": rng.choice([None, 3]),
                  "action": "vendor_import.applied", "entity_type": "vendor_import",
                  "entity_id": rng.choice([None, "12"]), "reason": rng.choice([None, "why \"not\""])}
        prev = f"{rng.getrandbits(256):064x}"
        expected = compute_hash(prev, before=None, after=_canonical(after), **fields)
        assert compute_hash_dumped(prev, before_text="null", after_text=json_dumps(after), **fields) == expected
