"""The worker process of a large vendor import (``pipeline.DedupePool``, decisions 0032 and 0036).

Run as ``python -m triad.vendors.dedupe_worker NAMES_FILE``: reads the pickled list of the file's legal names
from NAMES_FILE. Messages both ways are frames (``frames.write_frame``: an 8-byte length, then a pickle).

1. **Name keys.** It computes ``validation.name_key`` of the names in file order, a chunk at a time, keeping
   them. Between chunks it reads what the parent sent: ``("need", bitmap)`` (only the names whose bit is set
   are wanted: the parent has matched the other rows by tax ID, and computes keys from the end of the list
   itself while this process goes on from the start): it sends the wanted keys it has as ``("keys",
   indices, keys)``, then each further chunk of wanted keys as it is computed; or ``("stop",)`` (the parent
   has every key it wants): it sends ``("end",)``. With nothing left to compute it waits for the next word.
2. **Duplicate detection** (at a lower priority, ``SEARCH_NICE``). It answers each ``("pairs", keys, new,
   replaces)`` frame, in order, with ``("ok", dedupe.similar_names(keys, new=new))``. A request with
   ``replaces`` that comes while another is being answered stops that one (answered ``("cancelled", None)``,
   decision 0036); one without waits its turn.
   End of input: it exits.

Any failure is answered ``("error", traceback text)``. Only the parent writes the file and the pipe, so the
unpickling reads nothing it did not send.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import traceback
from typing import Any

from triad.vendors.frames import read_frame, write_frame

# The duplicate search runs at this much lower priority (``os.nice``) than the import: while the import's main
# thread and writer thread keep both cores busy they go first, and the search takes what they leave (measured in
# decision 0037: the import 0.1-0.3 s faster, the answer still there before it is needed). The name keys,
# which the main thread waits for, are computed at the parent's priority.
SEARCH_NICE = 5

CHUNK = 512  # names per "keys" frame: small enough that a need or stop is seen within a few milliseconds


def _keys_phase(names: list[str], inp: Any, out: Any) -> None:
    from triad.vendors.validation import name_key

    keys: list[str | None] = [None] * len(names)
    wanted: bytes | None = None  # None: every name, in file order (kept here until the parent says which)
    pos = 0
    while True:
        msg = read_frame(inp) if select.select([inp], [], [], 0)[0] else False
        if msg is False:  # nothing from the parent: the next chunk
            chunk: list[int] = []
            while pos < len(names) and len(chunk) < CHUNK:
                if keys[pos] is None and (wanted is None or wanted[pos >> 3] >> (pos & 7) & 1):
                    chunk.append(pos)
                pos += 1
            if chunk:
                done = [name_key(names[i]) for i in chunk]
                for i, key in zip(chunk, done, strict=True):
                    keys[i] = key
                if wanted is not None:  # the parent reads as they come
                    write_frame(out, ("keys", chunk, done))
                continue
            msg = read_frame(inp)  # nothing left to do: wait for the parent's next word
        if msg is None:  # the parent closed the pipe: the import is over
            return
        if msg[0] == "stop":
            write_frame(out, ("end",))
            return
        # ("need", bitmap): the wanted keys computed so far in one frame, then only wanted ones, from the start
        wanted, pos = msg[1], 0
        have = [i for i, key in enumerate(keys) if key is not None and wanted[i >> 3] >> (i & 7) & 1]
        write_frame(out, ("keys", have, [keys[i] for i in have]))


def main(argv: list[str]) -> int:
    import pickle

    with open(argv[0], "rb") as f:
        names = pickle.load(f)  # noqa: S301 - the parent process's own file
    inp, out = sys.stdin.buffer.raw, sys.stdout.buffer
    try:
        _keys_phase(names, inp, out)
    except BaseException:  # noqa: BLE001 - reported to the parent, which computes the keys itself
        write_frame(out, ("error", traceback.format_exc()))
        return 1
    with contextlib.suppress(OSError):  # the search yields to the parent's threads on busy cores (decision 0037)
        os.nice(SEARCH_NICE)
    from triad.vendors import dedupe

    pending: list = []  # a request read while another was being answered

    def interrupted() -> bool:
        """A request that replaces the one being answered has come (or the parent closed the pipe)."""
        if not pending and select.select([inp], [], [], 0)[0]:
            pending.append(read_frame(inp))
        return bool(pending) and (pending[0] is None or pending[0][3])

    while True:
        request = pending.pop() if pending else read_frame(inp)
        if request is None:
            return 0  # the import ended (or failed): no more requests
        _, keys, new, _replaces = request
        try:
            answer: tuple = ("ok", dedupe.similar_names(keys, new=new, interrupted=interrupted))
        except dedupe.Interrupted:
            if pending[0] is None:
                return 0  # the parent closed the pipe: nobody to answer
            answer = ("cancelled", None)
        except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
            answer = ("error", traceback.format_exc())
        write_frame(out, answer)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
