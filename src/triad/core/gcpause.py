"""Python's cyclic garbage collector paused around bulk work (decisions 0026, 0027, 0028).

A bulk import or export makes hundreds of thousands of small tuples, lists and dicts that hold no
reference cycles. Each allocation burst makes the cyclic collector walk every live object of the
process again, which grows faster than the file (a third of the AP cycle's time at 20,000 invoices,
most of a 100,000-row vendor import). Reference counting still frees everything that is not in a
cycle; the collector resumes afterwards if it was running (nested or concurrent pauses leave it to
the outermost one that found it on).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """``with cyclic_gc_paused(): ...`` or ``@cyclic_gc_paused()`` on a function."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
