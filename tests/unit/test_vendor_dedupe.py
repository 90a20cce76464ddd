"""Duplicate detection by sorted neighbourhood finds what comparing every pair finds; the fast name key is
cleanco's."""

from __future__ import annotations

import random

from cleanco.clean import prepare_default_terms

from triad.vendors import dedupe, validation

WORDS = ["Acme", "Apex", "Atlas", "Beacon", "Birch", "Cobalt", "Crescent", "Delta", "Ember", "Falcon", "Granite",
         "Harbor", "Summit", "Global", "National", "United", "First", "Pacific", "Northern", "Royal"]
KINDS = ["Consulting", "Advisory", "Legal Services", "Logistics", "Data Systems", "Partners", "Holdings",
         "Research", "Engineering", "Trading Company"]
FORMS = ["Ltd", "LLC", "Inc.", "LLP", "GmbH", "Limited", "S.A.", "Corp", ""]


def _typo(rng: random.Random, name: str, where: str) -> str:
    """One character changed, dropped, doubled or swapped with its neighbour, near the start, middle or end."""
    letters = [i for i, c in enumerate(name) if c.isalpha()]
    i = {"start": letters[1], "end": letters[-2], "middle": letters[len(letters) // 2]}[where]
    kind = rng.choice(["change", "drop", "double", "swap"])
    if kind == "change":
        return name[:i] + rng.choice("aeioustrn") + name[i + 1:]
    if kind == "drop":
        return name[:i] + name[i + 1:]
    if kind == "double":
        return name[:i] + name[i] + name[i:]
    return name[:i] + name[i + 1] + name[i] + name[i + 2:]


def generated_vendors(n_base: int = 220, seed: int = 11) -> list[str]:
    """A few hundred company names sharing words (so neighbourhoods are crowded), and likely duplicates of
    a third of them: typos at the start, middle or end, another legal form, words reordered, punctuation
    and case, an '&' for 'and', a number changed."""
    rng = random.Random(seed)
    names = []
    for i in range(n_base):
        base = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {rng.choice(KINDS)}"
        if i % 4 == 0:
            base += f" {rng.randint(1, 999)}"
        names.append(f"{base} {rng.choice(FORMS)}".strip())
    variants = []
    for name in rng.sample(names, n_base // 3):
        how = rng.choice(["start", "middle", "end", "form", "order", "punct", "and", "digit", "two"])
        core = validation.name_key(name)
        if how in ("start", "middle", "end"):
            variants.append(_typo(rng, name, how))
        elif how == "two":
            variants.append(_typo(rng, _typo(rng, name, "start"), "end"))
        elif how == "form":
            variants.append(f"{core.title()} {rng.choice(FORMS)}")
        elif how == "order":
            words = core.split()
            variants.append(" ".join(words[1:] + words[:1]))
        elif how == "punct":
            variants.append(name.upper().replace(" ", ", ", 1) + ".")
        elif how == "and":
            variants.append(name.replace(" ", " & ", 1))
        else:
            variants.append(name + "0" if name[-1].isdigit() else name + " 2")
    return names + variants


def test_sorted_neighbourhood_finds_every_pair_the_exhaustive_comparison_finds():
    keys = [validation.name_key(n) for n in generated_vendors()]
    assert 250 <= len(keys) <= 400
    everything = dedupe.similar_names_exhaustive(keys)
    found = dedupe.similar_names(keys)
    assert len(everything) > 45  # the seeded duplicates are there to be found
    assert found.keys() == everything.keys()
    assert all(abs(found[p] - everything[p]) < 1e-9 for p in found)


def test_a_small_window_still_finds_them_and_new_records_only_pair_with_everything():
    keys = [validation.name_key(n) for n in generated_vendors(seed=12)]
    everything = dedupe.similar_names_exhaustive(keys)
    # a window of 10 distinct names is far smaller than the set: the two orders carry the recall
    assert dedupe.similar_names(keys, window=10).keys() == everything.keys()
    new = set(range(len(keys) - 40, len(keys)))
    assert dedupe.similar_names(keys, new=new).keys() == {p for p in everything if p[0] in new or p[1] in new}


def test_identical_names_pair_up_and_empty_keys_are_ignored():
    keys = ["acme widgets", "", "widgets acme", "acme widgets", "zulu"]
    assert dedupe.similar_names(keys) == {(0, 2): 100.0, (0, 3): 100.0, (2, 3): 100.0}
    assert dedupe.similar_names(keys, new={3}) == {(0, 3): 100.0, (2, 3): 100.0}


def test_same_accounts_pairs_every_vendor_paid_into_one_account():
    assert dedupe.same_accounts(["a", None, "a", "b", "a"]) == [(0, 2), (0, 4), (2, 4)]
    assert dedupe.same_accounts(["a", None, "a", "b", "a"], new={4}) == [(0, 4), (2, 4)]


def test_fast_name_key_is_cleancos():
    rng = random.Random(5)
    terms = [" ".join(parts) for _, parts in prepare_default_terms()]
    names = ["Acme Widgets, Ltd.", "Société Générale S.A.", "Müller & Söhne GmbH & Co. KG", "Ørsted A/S",
             "BRAVO LAW L.L.P.", "Ltd", "", "  ", "Co.", "The Limited Company Limited", "ACME-WIDGETS INC...",
             "株式会社 Example", "Foo Bar Holdings Ltd Ltd", "Café & Co"]
    for term in terms:
        names += [f"Acme {term}", f"Acme {term.upper()} Ltd", f"{term} Acme", term]
    for _ in range(3000):
        words = [rng.choice(WORDS + terms + ["&", "-", ",", "Ltd.", "S.à r.l.", "Ç"]) for _ in range(rng.randint(1, 5))]
        names.append(" ".join(words))
    assert [validation.name_key(n) for n in names] == [validation.name_key_reference(n) for n in names]


def test_pairs_of_a_union_of_focus_sets_are_the_merged_pairs_of_each():
    """What the import relies on when it asks for the new vendors' pairs first and for vendors with new bank
    accounts later (decision 0036): for the same names, focus A | B gives exactly A's pairs merged with B's."""
    import random

    from triad.vendors.dedupe import similar_names

    rng = random.Random(36)
    words = ["acme", "acne", "birch", "birhc", "cobalt", "cobolt", "delta", "data", "ember", "embers", "group"]
    keys = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 4))) for _ in range(3000)] + ["", "acme"]
    a = set(rng.sample(range(len(keys)), 400))
    b = set(rng.sample(range(len(keys)), 300)) | set(list(a)[:50])
    merged = dict(similar_names(keys, new=a))
    merged.update(similar_names(keys, new=b))
    union = similar_names(keys, new=a | b)
    assert merged == union and len(union) > 100


def test_an_interrupted_search_raises_and_one_not_interrupted_finishes():
    import pytest

    from triad.vendors.dedupe import Interrupted, similar_names

    keys = [f"name {k} {k % 7}" for k in range(2000)]
    asked = []
    with pytest.raises(Interrupted):
        similar_names(keys, new={1, 2}, interrupted=lambda: asked.append(1) or len(asked) > 3)
    assert len(asked) == 4
    assert similar_names(keys, new={1, 2}, interrupted=lambda: False) == similar_names(keys, new={1, 2})


def test_keys_of_blanks_are_names_and_missing_keys_are_not():
    """Only an empty key (None or "") is left out; a key of blanks has the empty sorted form and pairs with
    another such key, as comparing every pair has it (decision 0038 keeps the grouping's results unchanged)."""
    keys = ["  ", "acme co", None, " ", "", "co acme"]
    pairs = dedupe.similar_names(keys)
    assert pairs == dedupe.similar_names_exhaustive([k or "" for k in keys]) == {(0, 3): 100.0, (1, 5): 100.0}
    assert dedupe.similar_names(keys, new={2, 4}) == {}
    assert dedupe.similar_names(keys, new={3}) == {(0, 3): 100.0}
