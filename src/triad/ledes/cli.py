"""``triad ledes validate`` and ``triad ledes convert``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, help="LEDES e-billing files: validate and convert.")


@app.command("validate")
def validate_cmd(
    files: Annotated[list[Path], typer.Argument(help="LEDES files (1998B, 98BI, XML 2.x)")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Check LEDES files. Exit 0 when all are valid (warnings allowed), 1 when any has an error,
    2 when a file cannot be read."""
    from triad.ledes.run import validate_paths, write_json

    results, status = validate_paths(files)
    if as_json:
        write_json(results)
    else:
        _print_table(results)
    raise typer.Exit(status)


def _print_table(results: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for r in results:
        if "error" in r:
            console.print(f"[red]✗ {r['path']}[/red]: {r['error']}")
            continue
        mark = "[green]✓[/green]" if r["valid"] else "[red]✗[/red]"
        console.print(f"{mark} {r['path']}: {r['format'] or 'unknown format'}, {r['invoices']} invoice(s), "
                      f"{r['lines']} line(s), {len(r['problems'])} problem(s)")
        if r["problems"]:
            table = Table(show_lines=False, header_style="bold")
            for col in ("Line", "Code", "Severity", "Field", "Value", "Message"):
                table.add_column(col, overflow="fold")
            for p in r["problems"]:
                sev = "[red]error[/red]" if p["severity"] == "error" else "[yellow]warning[/yellow]"
                table.add_row(str(p["line"] or ""), p["code"], sev, p["field"] or "", p["value"] or "", p["message"])
            console.print(table)


@app.command("convert")
def convert_cmd(
    file: Annotated[Path, typer.Argument(help="LEDES file to convert")],
    to: Annotated[str, typer.Option("--to", help="1998b, 98bi or xml2.1")],
    out: Annotated[Path | None, typer.Option("--out", help="Write here instead of standard output")] = None,
    currency: Annotated[str | None, typer.Option(help="Invoice currency, when the source (1998B) has none")] = None,
    allow_loss: Annotated[bool, typer.Option("--allow-loss", help="Accept dropping fields the target cannot hold")]
    = False,
) -> None:
    """Convert a valid LEDES file to another LEDES format."""
    from rich.console import Console

    from triad.ledes import parse
    from triad.ledes.writers import ConversionError, convert

    err = Console(stderr=True)
    try:
        data = file.read_bytes()
    except OSError as exc:
        err.print(f"[red]error[/red] cannot read {file}: {exc.strerror or exc}")
        raise typer.Exit(2) from None
    invoices, problems = parse(data)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        for p in errors[:20]:
            err.print(f"[red]{p.code}[/red] line {p.line}: {p.field or ''} {p.message}")
        err.print(f"{file} has {len(errors)} error(s); fix them before converting")
        raise typer.Exit(1)
    try:
        result = convert(invoices, to, currency=currency, allow_loss=allow_loss)
    except ConversionError as exc:
        err.print(f"[red]cannot convert[/red] {file}: {exc}")
        raise typer.Exit(1) from None
    if out:
        out.write_bytes(result)
        err.print(f"wrote {out} ({len(invoices)} invoice(s))")
    else:
        sys.stdout.buffer.write(result)
