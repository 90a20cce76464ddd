"""``triad ap export`` and ``triad ap import``: the file cycle with the AP system."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, help="Accounts payable: export approved invoices, import payments.")


@app.command("export")
def export_cmd(
    route: Annotated[str, typer.Option("--route", help="AP route name")],
    fmt: Annotated[str, typer.Option("--format", help="csv, json or pain001")] = "csv",
    out: Annotated[Path | None, typer.Option("--out", help="File to write (required unless --dry-run)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would go; change nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Export every approved invoice ready for ROUTE as one batch; each invoice is marked sent to AP
    in the same transaction, so it is never exported twice. Exit 0 on success (also when nothing is
    ready), 1 when the export is refused, 2 on a usage or file error (nothing exported), 3 when the
    batch was exported but its file could not be given its name (download it by batch id)."""
    from rich.console import Console

    from triad.ap.service import export
    from triad.audit.service import Actor
    from triad.core import db
    from triad.core.errors import TriadError

    err = Console(stderr=True)
    if out is None and not dry_run:
        err.print("[red]error[/red] --out FILE is required (or --dry-run)")
        raise typer.Exit(2)
    if out is not None and not dry_run and out.exists():
        err.print(f"[red]error[/red] {out} exists; choose a new file name (exports are never overwritten)")
        raise typer.Exit(2)
    tmp = out.with_name(out.name + ".part") if out is not None else None
    written = False
    try:
        with db.transaction() as session:
            result = export(session=session, route_name=route, fmt=fmt, actor=Actor("cli"), dry_run=dry_run)
            if tmp is not None and not dry_run and result.invoices:
                # written (and flushed to disk) before the commit: a failure to write rolls the export back
                _write_synced(tmp, result.content)
                written = True
    except TriadError as exc:
        _discard(tmp)
        _fail(err, exc, as_json)
    except OSError as exc:  # raised before the commit: the export was rolled back
        _discard(tmp)
        err.print(f"[red]error[/red] cannot write {out}: {exc.strerror or exc}; nothing was exported")
        raise typer.Exit(2) from None
    except BaseException:
        _discard(tmp)
        raise
    body = result.as_dict()
    if written:
        try:
            tmp.rename(out)  # only once the export is committed does the file get its name
        except OSError as exc:
            _discard(tmp)
            _placed_nowhere(err, result, out, exc, as_json)
    if as_json:
        sys.stdout.write(json.dumps(body, ensure_ascii=False) + "\n")
    elif not result.invoices:
        Console().print(f"Nothing is ready for route {route}.")
    else:
        verb = "Would export" if dry_run else "Exported"
        Console().print(f"[green]{verb}[/green] {len(result.invoices)} invoice(s) on route {route} "
                        f"({', '.join(f'{v} {k}' for k, v in result.totals.items())})"
                        + ("" if dry_run else f" to {out}, batch {result.batch_id}, sha256 {result.sha256[:12]}…"))
        for i in result.invoices:
            Console().print(f"  {i['invoice_number']}: {i['amount']} {i['currency']}  key {i['idempotency_key']}")


def _write_synced(path: Path, content: bytes) -> None:
    with path.open("wb") as fh:
        fh.write(content)
        fh.flush()
        os.fsync(fh.fileno())


def _placed_nowhere(err, result, out: Path, exc: OSError, as_json: bool) -> None:
    """The batch is committed but its file could not be given its name: say so, and where to get it
    (never "nothing was exported", which would invite a second export). Exit 3."""
    where = f"/api/v1/ap/batches/{result.batch_id}/file"
    message = (f"batch {result.batch_id} was exported ({len(result.invoices)} invoice(s) are now sent to AP), but "
               f"the file could not be written to {out}: {exc.strerror or exc}. Do not export again: download the "
               f"batch file (sha256 {result.sha256}) from {where} or the AP page (/ap/batches/{result.batch_id}/file)")
    if as_json:
        sys.stdout.write(json.dumps(result.as_dict() | {"file": where, "file_error": message}, ensure_ascii=False)
                         + "\n")
    else:
        err.print(f"[yellow]exported, file not written[/yellow] {message}")
    raise typer.Exit(3)


def _discard(tmp: Path | None) -> None:
    if tmp is not None:
        tmp.unlink(missing_ok=True)


def _fail(err, exc, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps({"error": exc.detail, "errors": exc.errors}, ensure_ascii=False) + "\n")
    else:
        err.print(f"[red]refused[/red] {exc.detail}")
        for e in exc.errors:
            err.print(f"  {e.get('invoice', '')} {e.get('field', '')}: {e.get('message', '')}")
    raise typer.Exit(1)


@app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help="CSV reverse feed, pain.002 or camt.054")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and show; change nothing")] = False,
    partial: Annotated[bool, typer.Option("--partial", help="Apply the good entries, report the rest")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Apply payment confirmations. The whole file or nothing (unless --partial); the same file again
    changes nothing. Exit 0 when applied (or already), 1 when refused or partly applied, 2 when the
    file cannot be read."""
    from rich.console import Console

    from triad.ap.service import import_payments
    from triad.audit.service import Actor
    from triad.core import db

    try:
        data = file.read_bytes()
    except OSError as exc:
        Console(stderr=True).print(f"[red]error[/red] cannot read {file}: {exc.strerror or exc}")
        raise typer.Exit(2) from None
    with db.transaction() as session:
        res = import_payments(session=session, data=data, filename=file.name, actor=Actor("cli"), dry_run=dry_run,
                              partial=partial)
    if res.status == "partial":  # the rows left out, for the person who fixes them
        report = file.with_name(file.name + ".report.json")
        report.write_text(json.dumps({"file": str(file), "run_id": res.run_id, "not_applied": res.errors},
                                     indent=2, default=str), encoding="utf-8")
        Console(stderr=True).print(f"{len(res.errors)} entr(y/ies) not applied: see {report}")
    if as_json:
        sys.stdout.write(json.dumps(res.as_dict(), ensure_ascii=False, default=str) + "\n")
    else:
        _print_import(res)
    raise typer.Exit(0 if res.status in ("applied", "duplicate", "empty", "dry_run") else 1)


def _print_import(res) -> None:
    from rich.console import Console

    c = Console()
    if res.status == "duplicate":
        c.print(f"= {res.filename}: already imported (same content or message id); nothing changed")
        return
    head = {"applied": "[green]applied[/green]", "partial": "[yellow]partly applied[/yellow]",
            "rejected": "[red]refused[/red]", "dry_run": "would apply", "empty": "nothing to apply in"}[res.status]
    c.print(f"{head} {res.filename} ({res.format}): {len(res.applied)} entr(y/ies), "
            f"{len(res.skipped)} already applied, {len(res.errors)} error(s)")
    for e in res.errors[:200]:
        c.print(f"  {e['file']} line {e['line']}: {e.get('field') or ''} — {e['reason']}")
    for f in res.flags:
        c.print(f"  [yellow]flag[/yellow] line {f['line']}: {f['message']}")
