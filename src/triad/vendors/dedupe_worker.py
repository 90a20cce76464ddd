"""The worker process of a large vendor import (``pipeline.DedupePool``, decision 0032).

Run as ``python -m triad.vendors.dedupe_worker NAMES_FILE``: reads the pickled list of the file's legal names
from NAMES_FILE and writes one pickled answer to stdout, their ``validation.name_key`` in the same order; then
reads one pickled ``(keys, new)`` from stdin and answers ``dedupe.similar_names(keys, new=new)``. Each answer
is ``("ok", value)`` or ``("error", traceback text)``. End of input before a request: it exits, having done
nothing more. Only the parent writes the file and the pipe, so the unpickling reads nothing it did not send.
"""

from __future__ import annotations

import pickle
import sys
import traceback
from collections.abc import Callable
from typing import Any


def _answer(work: Callable[[], Any]) -> None:
    try:
        out: tuple = ("ok", work())
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
        out = ("error", traceback.format_exc())
    pickle.dump(out, sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)
    sys.stdout.buffer.flush()


def main(argv: list[str]) -> int:
    with open(argv[0], "rb") as f:
        names = pickle.load(f)  # noqa: S301 - the parent process's own file

    def name_keys() -> list[str]:
        from triad.vendors.validation import name_key

        return [name_key(n) for n in names]

    _answer(name_keys)
    from triad.vendors import dedupe

    try:
        keys, new = pickle.load(sys.stdin.buffer)  # noqa: S301 - the parent process's own request
    except EOFError:
        return 0  # the import ended (or failed) before asking
    _answer(lambda: dedupe.similar_names(keys, new=new))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
