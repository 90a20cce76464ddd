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


def test_large_texts_fed_in_pieces_give_the_same_hash():
    """Texts above 4,096 characters are hashed as they are, not copied into the payload (decision 0037): the
    hash is the same, whichever fields are large."""
    rng = random.Random(11)
    for n in range(60):
        after = {"vendors": [_value(rng) for _ in range(rng.randrange(200, 900))], "n": n, "pad": "p" * 4100}
        before = {"rows": [_value(rng) for _ in range(rng.randrange(0, 700))]} if n % 2 else None
        fields = {"seq": n + 1, "at": "2026-11-27T02:00:00.000001Z", "actor": rng.choice(["cli", "ü"]),
                  "actor_id": None, "action": "vendor_import.applied", "entity_type": "vendor_import",
                  "entity_id": None, "reason": rng.choice([None, "x" * 5000])}
        prev = f"{rng.getrandbits(256):064x}"
        expected = compute_hash(prev, before=_canonical(before), after=_canonical(after), **fields)
        after_text, before_text = json_dumps(after), json_dumps(before)
        assert len(after_text) > 4096
        assert compute_hash_dumped(prev, before_text=before_text, after_text=after_text, **fields) == expected
