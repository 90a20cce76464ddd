"""What ``triad ledes validate`` does, free of the command-line framework (see ``triad.entry``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def validate_paths(paths: list[Path]) -> tuple[list[dict], int]:
    """One result per file and the exit status: 0 when all are valid (warnings allowed), 1 when
    any has an error, 2 when a file cannot be read."""
    from triad.ledes import validate_file

    results = []
    unreadable = False
    any_error = False
    for path in paths:
        try:
            report = validate_file(path)
        except OSError as exc:
            unreadable = True
            results.append({"path": str(path), "format": None, "valid": False, "invoices": 0, "lines": 0,
                            "error": f"cannot read: {exc.strerror or exc}", "problems": []})
            continue
        any_error |= not report.valid
        results.append({"path": str(path), "format": report.format, "valid": report.valid,
                        "invoices": report.invoices, "lines": report.lines,
                        "problems": [p.as_dict() for p in report.problems]})
    return results, 2 if unreadable else 1 if any_error else 0


def write_json(results: list[dict]) -> None:
    sys.stdout.write(json.dumps({"files": results}, ensure_ascii=False) + "\n")
