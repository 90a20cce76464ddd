"""The ``triad`` console script.

``triad ledes validate FILE... --json`` is answered without loading the command-line framework
(typer, rich) or the rest of the application: it is the command scripts and pipelines call in
bulk, and those imports cost more than checking a small file. Every other command line, and any
validate command line with other options, goes to the full ``triad.cli`` app.
"""

from __future__ import annotations

import os
import sys


def _fast_validate_files(argv: list[str]) -> list[str] | None:
    """The files of ``ledes validate FILE... --json`` when that is the whole command line."""
    if argv[:2] != ["ledes", "validate"]:
        return None
    rest = argv[2:]
    if "--json" not in rest:
        return None
    files = [a for a in rest if a != "--json"]
    if not files or any(not a or a.startswith("-") for a in files):
        return None
    return files


def main() -> None:
    files = _fast_validate_files(sys.argv[1:])
    if files is not None:
        from pathlib import Path

        from triad.ledes.run import validate_paths, write_json

        results, status = validate_paths([Path(f) for f in files])
        write_json(results)
        sys.exit(status)
    from triad.cli import app

    app()


def console() -> None:
    """The console script: ``main``; in the light path the process then ends as soon as the answer
    is written and flushed, without the interpreter's teardown (freeing every object and the
    memory pools of a large file's check costs CPU time and changes nothing: no file is left open
    for writing, no atexit hook of this path has work to do)."""
    if _fast_validate_files(sys.argv[1:]) is None:
        main()
        return
    try:
        main()
    except SystemExit as done:
        status = 0 if done.code is None else done.code if isinstance(done.code, int) else 1
    else:
        status = 0
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
