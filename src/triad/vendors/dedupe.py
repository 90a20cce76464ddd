"""Likely duplicate vendors, without comparing every pair: exact bank-account keys through a hash map, and
fuzzy names only within blocks (records that share a blocking key), scored with rapidfuzz ``cdist``.

Pure: names and keys in, candidate pairs out. Cost grows with the sum of squared block sizes, not with
the square of the number of vendors; blocks larger than ``MAX_BLOCK`` are cut into windows of sorted names.
"""

from __future__ import annotations

from collections import defaultdict

from rapidfuzz import fuzz, process

NAME_THRESHOLD = 92
MAX_BLOCK = 400


def _blocks(keys: list[str]) -> dict[str, list[int]]:
    """Two keys per name: its first 4 letters, and its sorted tokens' first 4 letters (catches reordering)."""
    blocks: dict[str, list[int]] = defaultdict(list)
    for i, k in enumerate(keys):
        if not k:
            continue
        compact = k.replace(" ", "")
        blocks[compact[:4]].append(i)
        alt = "".join(sorted(k.split()))[:4]
        if alt != compact[:4]:
            blocks[alt].append(i)
    return blocks


def similar_names(keys: list[str], *, new: set[int] | None = None, threshold: int = NAME_THRESHOLD
                  ) -> dict[tuple[int, int], float]:
    """Pairs (i, j), i < j, of normalised names scoring at least ``threshold`` (token_sort_ratio).

    ``new``: when given, only pairs with at least one index in it are returned (new records against
    everything) — an import of a few rows into a large master stays cheap.
    """
    out: dict[tuple[int, int], float] = {}
    for members in _blocks(keys).values():
        if len(members) < 2 or (new is not None and not any(m in new for m in members)):
            continue
        members = sorted(members, key=lambda i: keys[i])
        step = MAX_BLOCK // 2
        windows = [members] if len(members) <= MAX_BLOCK else [
            members[s:s + MAX_BLOCK] for s in range(0, len(members) - step, step)]
        for win in windows:
            if new is not None:
                rows = [i for i in win if i in new]
                if not rows:
                    continue
            else:
                rows = win
            scores = process.cdist([keys[i] for i in rows], [keys[j] for j in win], scorer=fuzz.token_sort_ratio,
                                   score_cutoff=threshold, workers=-1)
            for a, b in zip(*scores.nonzero(), strict=True):
                i, j = rows[a], win[b]
                if i != j:
                    out[(min(i, j), max(i, j))] = float(scores[a, b])
    return out


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
