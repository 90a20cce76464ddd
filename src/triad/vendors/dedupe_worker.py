"""The worker process of a large vendor import's duplicate detection (``pipeline.DedupePool``, decision 0032).

Run as ``python -m triad.vendors.dedupe_worker``: imports ``dedupe`` at once (numpy, rapidfuzz), then reads
one pickled ``(keys, new)`` from stdin, and writes one pickled ``("ok", dedupe.similar_names(keys, new=new))``
(or ``("error", traceback text)``) to stdout. End of input before a request: it exits, having done nothing.
Only the parent writes to the pipe, so the unpickling reads nothing it did not send.
"""

from __future__ import annotations

import pickle
import sys
import traceback

from triad.vendors import dedupe


def main() -> int:
    try:
        keys, new = pickle.load(sys.stdin.buffer)  # noqa: S301 - the parent process's own request
    except EOFError:
        return 0  # the import ended (or failed) before asking
    try:
        out: tuple = ("ok", dedupe.similar_names(keys, new=new))
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
        out = ("error", traceback.format_exc())
    pickle.dump(out, sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
