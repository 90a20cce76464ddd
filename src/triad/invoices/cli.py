"""``triad invoices import``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, help="Invoices: LEDES intake.")


@app.command("import")
def import_cmd(
    files: Annotated[list[Path], typer.Argument(help="LEDES files")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    as_user: Annotated[str | None, typer.Option("--as", help="Submit as this user (default: the CLI itself)")]
    = None,
) -> None:
    """Submit LEDES files. Exit 0 when every invoice was stored (or was already), 1 when any was
    refused, 2 when a file cannot be read."""
    from rich.console import Console
    from sqlalchemy import select

    from triad.audit.service import Actor
    from triad.auth.models import User
    from triad.core import db
    from triad.invoices.intake import import_file

    err = Console(stderr=True)
    results, unreadable, refused = [], False, False
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            unreadable = True
            results.append({"filename": str(path), "error": f"cannot read: {exc.strerror or exc}", "invoices": []})
            continue
        with db.transaction() as session:
            user = None
            if as_user:
                user = session.scalar(select(User).where(User.username == as_user))
                if user is None:
                    err.print(f"[red]error[/red] no user {as_user!r}")
                    raise typer.Exit(2)
            actor = Actor.of(user) if user else Actor("cli")
            result = import_file(session=session, data=data, filename=path.name, actor=actor, user=user)
            body = result.as_dict()
        refused |= not result.ok
        results.append(body)
    if as_json:
        sys.stdout.write(json.dumps({"files": results}, ensure_ascii=False, default=str) + "\n")
    else:
        _print(results)
    raise typer.Exit(2 if unreadable else 1 if refused else 0)


def _print(results: list[dict]) -> None:
    from rich.console import Console

    console = Console()
    for r in results:
        if "error" in r:
            console.print(f"[red]✗ {r['filename']}[/red]: {r['error']}")
            continue
        if r["already_imported"]:
            console.print(f"= {r['filename']}: already imported (same content); nothing changed")
        errors = [p for p in r["problems"] if p["severity"] == "error"]
        if errors:
            console.print(f"[red]✗ {r['filename']}[/red]: {len(errors)} error(s) in the file; nothing stored")
            for p in errors[:50]:
                console.print(f"  line {p['line']}: {p['code']} {p['field'] or ''} — {p['message']}")
        for o in r["invoices"]:
            if o["status"] == "stored":
                console.print(f"[green]✓[/green] {o['invoice_number']}: stored as invoice {o['invoice_id']} "
                              f"({o['state']}, {o['total']} {o['currency']}, {o['lines']} lines, "
                              f"{len(o['findings'])} guideline finding(s))")
                for f in o["findings"]:
                    where = f"line {f['line']}" if f["line"] else "invoice"
                    console.print(f"    {where}: {f['rule']} [{f['severity']}] {f['message']}"
                                  f"{' (adjust ' + f['adjustment'] + ')' if f['adjustment'] != '0' else ''}")
            elif o["status"] == "rejected":
                console.print(f"[red]✗[/red] {o['invoice_number']}: refused")
                for e in o["errors"]:
                    console.print(f"    line {e['line']}: {e['field']} — {e['message']}")
