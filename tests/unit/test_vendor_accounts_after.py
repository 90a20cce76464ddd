"""``sync._accounts_after`` (decision 0038: accounts counted in C, only repeated ones looked at) gives, for random
(vendor, account) rows with replaced and added accounts, exactly the shared accounts a plain reading gives."""

from __future__ import annotations

import random

from triad.vendors import sync


def _reference(w: sync._Writes, wanted: set[int], every: list) -> dict[str, set[int]]:
    """Every account after the writes, with its vendors; those of two or more vendors that touch ``wanted``, in the
    order their second vendor appears."""
    replaced = set(w.replace["bank_accounts"])
    rows = [row for row in every if row[0] not in replaced]
    rows += [(vid, row["account_key"]) for vid, row in w.inserts["bank_accounts"]]
    vendors: dict[str, set[int]] = {}
    shared: list[str] = []
    for vid, key in rows:
        if key:
            vendors.setdefault(key, set()).add(vid)
            if len(vendors[key]) == 2 and key not in shared:
                shared.append(key)
    return {key: vendors[key] for key in shared if vendors[key] & wanted}


def test_shared_accounts_after_the_writes_are_those_of_a_plain_reading():
    rng = random.Random(5)
    checked = 0
    for _ in range(300):
        keys = [f"021000021:{k:09d}" for k in range(rng.randint(1, 30))] + ["", None]
        every = [(rng.randint(1, 25), rng.choice(keys)) for _ in range(rng.randint(0, 60))]
        w = sync._Writes()
        w.replace["bank_accounts"] = rng.sample(range(1, 26), rng.randint(0, 5))
        w.inserts["bank_accounts"] = [(rng.randint(1, 30), {"account_key": rng.choice(keys)})
                                      for _ in range(rng.randint(0, 10))]
        wanted = set(rng.sample(range(1, 31), rng.randint(1, 10)))
        expected = _reference(w, wanted, every)
        got = sync._accounts_after(w, wanted, every)
        assert got == expected and list(got) == list(expected)
        checked += bool(expected)
    assert checked > 100  # most cases have shared accounts to find
