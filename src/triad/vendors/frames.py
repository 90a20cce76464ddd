"""Frames of the vendor import's worker protocol (``pipeline.DedupePool`` and ``dedupe_worker``): an 8-byte
little-endian length, then a pickle. Kept apart so the worker process imports nothing else to speak it."""

from __future__ import annotations

import pickle
import struct
from typing import Any


def write_frame(out: Any, obj: Any) -> None:
    """One message of the import's worker protocol: an 8-byte little-endian length, then the pickle."""
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(struct.pack("<Q", len(data)))
    out.write(data)
    out.flush()


def _read_exact(inp: Any, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        got = inp.read(n - len(buf))
        if not got:
            if buf:
                raise EOFError("the pipe ended inside a frame")
            return None
        buf += got
    return bytes(buf)


def read_frame(inp: Any) -> Any:
    """The next message (blocking), or None at the end of the input."""
    head = _read_exact(inp, 8)
    if head is None:
        return None
    body = _read_exact(inp, struct.unpack("<Q", head)[0])
    if body is None:
        raise EOFError("the pipe ended inside a frame")
    return pickle.loads(body)  # noqa: S301 - the other side is our own parent or child process
