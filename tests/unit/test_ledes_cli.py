"""``triad ledes validate --json`` answered by the light entry point (triad.entry) says exactly what
the full command-line app says, with the same exit status."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from triad.entry import _fast_validate_files, main

DATA = Path(__file__).parent.parent / "data" / "ledes"
CASES = sorted(p for p in DATA.iterdir() if p.suffix in (".ledes", ".xml"))


def _fast(args: list[str], monkeypatch, capsys) -> tuple[str, int]:
    monkeypatch.setattr(sys, "argv", ["triad", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    return capsys.readouterr().out, exit_.value.code


def _full(args: list[str]) -> tuple[str, int]:
    from triad.cli import app

    result = CliRunner().invoke(app, args)
    return result.stdout, result.exit_code


@pytest.mark.parametrize("files", [[CASES[0]], CASES[:8], [DATA / "no-such-file.ledes", CASES[-1]]],
                         ids=["one", "several", "unreadable"])
def test_fast_path_matches_full_app(files, monkeypatch, capsys):
    args = ["ledes", "validate", *[str(f) for f in files], "--json"]
    assert _fast_validate_files(args) is not None
    assert _fast(args, monkeypatch, capsys) == _full(args)


def test_other_command_lines_go_to_the_full_app():
    assert _fast_validate_files(["ledes", "validate", "x.ledes"]) is None  # table output
    assert _fast_validate_files(["ledes", "validate", "--json"]) is None  # no file: usage error
    assert _fast_validate_files(["ledes", "validate", "x.ledes", "--json", "--help"]) is None
    assert _fast_validate_files(["ledes", "validate", "--", "-x.ledes", "--json"]) is None
    assert _fast_validate_files(["ledes", "convert", "x.ledes", "--json"]) is None
    assert _fast_validate_files(["invoices", "import", "x.ledes", "--json"]) is None
