"""Likely duplicate vendors, without comparing every pair: exact bank-account keys through a hash map, and
fuzzy names by sorted neighbourhood (docs/decisions/0024-bulk-vendor-import.md).

Pure: names and keys in, candidate pairs out.

Names are compared as rapidfuzz ``token_sort_ratio`` does: the words sorted, then the Indel ratio. Each
distinct sorted form is compared only with its ``WINDOW`` neighbours on either side in two orders: the
sorted forms themselves (names that agree at the start: a late typo, a missing word at the end) and the
same forms read backwards (names that agree at the end: an early typo). Names with the same sorted form
are grouped first (score 100), so a common name does not crowd its neighbours out of the window. The work
is ``n log n`` for the two sorts plus, in each order, about ``n * (WINDOW + _BLOCK)`` comparisons in rapidfuzz's C++
``cdist`` (``2 * WINDOW + _BLOCK`` per name when only new names are scored): it grows linearly with the number of
vendors. tests/unit/test_vendor_dedupe.py checks that it finds the same pairs
as comparing every pair.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable
from itertools import compress

import numpy as np
from rapidfuzz import fuzz, process

NAME_THRESHOLD = 92
WINDOW = 50  # distinct sorted names compared on either side, in each order
# sorted positions scored per cdist call: each call scores them against the block and a window either side, so
# a smaller block wastes fewer comparisons and makes more calls (measured in decision 0038: 150,000 names, 50,000
# of them new, 0.69 s with 100, 0.61 s with 50; all of 100,000 names 0.70 s and 0.56 s; 32 no better)
_BLOCK = 50


def token_sorted(key: str) -> str:
    """The form ``token_sort_ratio`` compares: words sorted, joined by one space."""
    return " ".join(sorted(key.split()))


_NO_NAME = " "  # ``_form`` of an empty key: never a ``token_sorted`` text (that has no space at either end)


def _form(key: str | None) -> str:
    """``token_sorted(key)``, or ``_NO_NAME`` for an empty key (None or ""), which is not compared."""
    return token_sorted(key) if key else _NO_NAME


class Interrupted(Exception):  # noqa: N818 - not an error: the caller asked to stop
    """``similar_names`` stopped because its ``interrupted`` callback said so."""


def similar_names(keys: list[str], *, new: set[int] | None = None, threshold: int = NAME_THRESHOLD,
                  window: int = WINDOW, interrupted: Callable[[], bool] | None = None) -> dict[tuple[int, int], float]:
    """Pairs (i, j), i < j, of normalised names scoring at least ``threshold`` (token_sort_ratio) that the
    sorted neighbourhood finds (see the module docstring).

    ``new``: when given, only pairs with at least one index in it are returned (new records against
    everything) — an import of a few rows into a large master stays cheap. Each index of ``new`` is scored
    on its own against its windows, so for the same ``keys`` the pairs for ``new = A | B`` are exactly the
    pairs for ``A`` merged with those for ``B`` (tests/unit/test_vendor_dedupe.py).
    ``interrupted``: asked between blocks of scoring; when it says True, ``Interrupted`` is raised.
    """
    # each name's form, and the position of the first name with that form (both made at C level: decision 0038)
    first_of: dict[str, int] = {}
    first_at = list(map(first_of.setdefault, map(_form, keys), range(len(keys))))
    first_of.pop(_NO_NAME, None)  # an empty key (no name) has no form
    forms = list(first_of)  # the distinct forms in order of first appearance; form f's first name is reps[f]
    reps = list(first_of.values())
    number = dict(zip(reps, range(len(reps)), strict=True))  # a form's first name -> the form's number
    members: list[list[int]] = [[i] for i in reps]
    for i in compress(range(len(keys)), map(int.__ne__, first_at, range(len(keys)))):  # names sharing a form
        f = number.get(first_at[i])
        if f is not None:
            members[f].append(i)
    if new is None:
        wanted = [True] * len(forms)
    else:  # a form is scored when one of its names is in ``new``
        wanted = [False] * len(forms)
        for i in new:
            if 0 <= i < len(keys) and (f := number.get(first_at[i])) is not None:
                wanted[f] = True
    out: dict[tuple[int, int], float] = {}

    def add(f: int, g: int, score: float) -> None:
        for x in members[f]:
            for y in members[g]:
                if x != y and (new is None or x in new or y in new):
                    out[(min(x, y), max(x, y))] = score

    for f, m in enumerate(members):
        if len(m) > 1 and wanted[f]:
            add(f, f, 100.0)
    reversed_forms = [s[::-1] for s in forms]
    for text in (forms, reversed_forms):
        order = sorted(range(len(forms)), key=text.__getitem__)
        in_order = list(map(text.__getitem__, order))  # the forms in sorted order: windows are slices of it
        wanted_at = list(compress(range(len(order)), map(wanted.__getitem__, order)))  # sorted positions to score
        k = 0
        for start in range(0, len(order), _BLOCK):
            if interrupted is not None and interrupted():
                raise Interrupted
            end = min(start + _BLOCK, len(order))
            first = k
            k = bisect_left(wanted_at, end, first)  # the positions to score in this block: wanted_at[first:k]
            if k == first:
                continue
            rows = np.array(wanted_at[first:k])
            # every pair within the window once: all names look forward; with ``new`` only the new ones are
            # scored, so they look both ways
            lo, hi = max(0, start - window) if new is not None else start, min(len(order), end + window)
            scores = process.cdist([in_order[p] for p in wanted_at[first:k]], in_order[lo:hi], scorer=fuzz.ratio,
                                   score_cutoff=threshold, dtype=np.float64)
            a_idx, b_idx = scores.nonzero()
            p_pos, q_pos = rows[a_idx], lo + b_idx
            keep = (p_pos != q_pos) & (np.abs(p_pos - q_pos) <= window)  # not itself, within the window
            for a, b, p, q in zip(a_idx[keep].tolist(), b_idx[keep].tolist(), p_pos[keep].tolist(),
                                  q_pos[keep].tolist(), strict=True):
                add(order[p], order[q], float(scores[a, b]))
    return out


def similar_names_exhaustive(keys: list[str], *, threshold: int = NAME_THRESHOLD) -> dict[tuple[int, int], float]:
    """Every pair scored (quadratic): the reference ``similar_names`` is tested against."""
    idx = [i for i, k in enumerate(keys) if k]
    scores = process.cdist([keys[i] for i in idx], [keys[i] for i in idx], scorer=fuzz.token_sort_ratio,
                           score_cutoff=threshold, dtype=np.float64)
    return {(idx[a], idx[b]): float(scores[a, b]) for a, b in zip(*scores.nonzero(), strict=True) if a < b}


def same_accounts(account_keys: list[str | None], *, new: set[int] | None = None) -> list[tuple[int, int]]:
    """Pairs (i, j), i < j, of records paid into the same bank account."""
    seen: dict[str, list[int]] = defaultdict(list)
    for i, k in enumerate(account_keys):
        if k:
            seen[k].append(i)
    pairs = []
    for members in seen.values():
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                i, j = members[x], members[y]
                if new is None or i in new or j in new:
                    pairs.append((i, j))
    return pairs
