"""``triad vendors``: procurement sync by file, sanctions lists, and the lifecycle from the command line.

Lifecycle commands act as a named user (``--as``): the gate and the role checks are the same as in the
API and the pages.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(no_args_is_help=True, help="Vendor master: import/export, screening, lifecycle.")
screening_app = typer.Typer(no_args_is_help=True, help="Sanctions lists and screening.")
app.add_typer(screening_app, name="screening")
console = Console()
err = Console(stderr=True)


def _user(session, username: str):
    from sqlalchemy import select

    from triad.auth.models import User

    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        err.print(f"[red]error[/red] no user {username!r}")
        raise typer.Exit(2)
    return user


def _fail(exc) -> None:
    err.print(f"[red]error[/red] {exc.detail}")
    for e in exc.errors[:200]:
        where = f"{e.get('file', '')} line {e['line']}: " if e.get("line") else ""
        err.print(f"  {where}{e.get('field') or ''}: {e['message']}")
    raise typer.Exit(1)


@app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help="CSV or JSON file (columns: docs/vendors.md)")],
    source: Annotated[str, typer.Option(help="The system the file comes from: procurement or legal")] = "procurement",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would change; change nothing")] = False,
    partial: Annotated[bool, typer.Option("--partial", help="Apply the good rows even if some are bad")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object")] = False,
    as_user: Annotated[str | None, typer.Option(
        "--as", help="Record the changes as this user (required for --source legal: a legal user)")] = None,
) -> None:
    """Import a vendor file. Exit 0 when every row was applied (or would be), 1 when rows were refused
    (nothing applied unless --partial), 2 when the file cannot be read."""
    from triad.audit.service import Actor
    from triad.core import db
    from triad.core.errors import TriadError
    from triad.vendors.sync import import_vendors

    try:
        data = file.read_bytes()
    except OSError as exc:
        err.print(f"[red]error[/red] {file}: cannot read: {exc.strerror or exc}")
        raise typer.Exit(2) from None
    try:
        with db.transaction() as session:
            actor = Actor.of(_user(session, as_user)) if as_user else Actor(f"cli:{source}")
            report = import_vendors(session=session, data=data, filename=file.name, source=source, actor=actor,
                                    dry_run=dry_run, partial=partial)
    except TriadError as exc:
        if as_json:
            sys.stdout.write(json.dumps({"file": file.name, "ok": False, "applied": False, "error": exc.detail,
                                         "errors": exc.errors}) + "\n")
            raise typer.Exit(1) from None
        _fail(exc)
    if as_json:
        sys.stdout.write(json.dumps(report.as_dict(), default=str) + "\n")
    else:
        verb = "would be" if dry_run or (report.errors and not partial) else "were"
        if report.errors:
            err.print(f"[red]{len({e['line'] for e in report.errors})} row(s) refused[/red] in {file.name}"
                      + ("" if partial else "; nothing was applied"))
            for e in report.errors:
                err.print(f"  {e['file']} line {e['line']}: {e['field']}: {e['message']}")
        if not report.errors or partial:
            console.print(f"{report.rows} rows: {report.created} created, {report.updated} updated, "
                          f"{report.unchanged} unchanged; {report.held_for_approval} bank/tax change(s) held for "
                          f"a second approval, {report.conflicts} conflict(s) queued, "
                          f"{report.duplicates_flagged} likely duplicate(s) flagged ({verb} applied)")
    raise typer.Exit(1 if report.errors else 0)


@app.command("export")
def export_cmd(
    fmt: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: stdout)")] = None,
) -> None:
    """Export every vendor in the import's columns (status, legal review and panel membership included)."""
    from triad.core import db
    from triad.vendors.sync import export_text

    if fmt not in ("csv", "json"):
        err.print("[red]error[/red] --format is csv or json")
        raise typer.Exit(2)
    with db.session_factory()() as session:
        text = export_text(session, fmt)
    if output:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}")
    else:
        sys.stdout.write(text)


@app.command("transition")
def transition_cmd(vendor_id: int, to: Annotated[str, typer.Option("--to")],
                   as_user: Annotated[str, typer.Option("--as", help="Who makes the move")],
                   reason: Annotated[str | None, typer.Option()] = None) -> None:
    """Move a vendor along its lifecycle (activation passes the same gate as everywhere else)."""
    from triad.audit.service import Actor
    from triad.core import db
    from triad.core.errors import TriadError
    from triad.vendors import service

    try:
        with db.transaction() as session:
            user = _user(session, as_user)
            vendor = service.get_vendor(session, vendor_id)
            service.transition(session=session, vendor=vendor, to=to, actor=Actor.of(user), user=user, reason=reason)
    except TriadError as exc:
        _fail(exc)
    console.print(f"[green]vendor {vendor_id} is now {to}[/green]")


@app.command("review")
def review_cmd(vendor_id: int, as_user: Annotated[str, typer.Option("--as", help="The legal reviewer")],
               outcome: Annotated[str, typer.Option(help="completed or rejected")] = "completed",
               note: Annotated[str | None, typer.Option()] = None) -> None:
    """Record the legal review of a vendor pending review."""
    from triad.core import db
    from triad.core.errors import TriadError
    from triad.vendors import service

    try:
        with db.transaction() as session:
            user = _user(session, as_user)
            service.record_review(session=session, vendor=service.get_vendor(session, vendor_id), reviewer=user,
                                  outcome=outcome, note=note)
    except TriadError as exc:
        _fail(exc)
    console.print(f"[green]legal review of vendor {vendor_id} recorded: {outcome}[/green]")


@app.command("screen")
def screen_cmd(vendor_id: int, as_user: Annotated[str, typer.Option("--as", help="The legal user screening")]) -> None:
    """Screen one vendor's names against the current sanctions lists now (as the API and the page do).
    Exit 0 when clear, 3 when there are new hits."""
    from triad.audit.service import Actor
    from triad.core import db
    from triad.core.errors import PermissionDenied, TriadError
    from triad.core.permissions import Perm, has
    from triad.vendors import screening, service

    try:
        with db.transaction() as session:
            user = _user(session, as_user)
            if not has(user.role, Perm.vendors_review):
                raise PermissionDenied(f"your role ({user.role}) cannot screen vendors")
            vendor = service.get_vendor(session, vendor_id)
            hits = screening.screen_vendor(session=session, vendor=vendor, actor=Actor.of(user))
            status = vendor.screening_status
    except TriadError as exc:
        _fail(exc)
    console.print(f"vendor {vendor_id} screened: {status}, {len(hits)} new hit(s)")
    for h in hits:
        console.print(f"  [red]hit[/red] {h.matched_name!r} ~ {h.entry_name!r} ({h.list_source} {h.entry_uid})")
    raise typer.Exit(3 if hits else 0)


@screening_app.command("load")
def screening_load(
    file: Annotated[Path, typer.Argument(help="OFAC SDN.CSV, or a CSV with a name column")],
    fmt: Annotated[str, typer.Option("--format", help="ofac_sdn or names")] = "ofac_sdn",
    source: Annotated[str | None, typer.Option(help="List label (default: the format)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Load a sanctions list (replacing the current one of the same source) and re-screen active vendors.
    Exit 0 with no new hits, 3 when active vendors got new hits, 1 when the file was refused."""
    from triad.audit.service import Actor
    from triad.core import db
    from triad.core.errors import TriadError
    from triad.vendors.screening import load_list

    try:
        with db.transaction() as session:
            result = load_list(session=session, data=file.read_bytes(), filename=file.name, fmt=fmt,
                               source=source, actor=Actor("cli"))
    except TriadError as exc:
        _fail(exc)
    if as_json:
        sys.stdout.write(json.dumps(result.__dict__, default=str) + "\n")
    elif result.already_loaded:
        console.print(f"= {file.name}: already the current {result.source} list; nothing changed")
    else:
        console.print(f"loaded {result.entries} entries as the current {result.source} list; re-screened "
                      f"{result.rescreened} active vendor(s): {len(result.new_hits)} new hit(s)")
        for h in result.new_hits:
            console.print(f"  [red]hit[/red] vendor {h['vendor_id']}: {h['matched_name']!r} ~ {h['entry_name']!r} "
                          f"({h['list']} {h['entry_uid']}, score {h['score']})")
    raise typer.Exit(3 if result.new_hits else 0)
