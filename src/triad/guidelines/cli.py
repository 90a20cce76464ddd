"""``triad guidelines load`` and ``triad guidelines show``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, help="Billing guidelines: versioned, validated documents.")


@app.command("load")
def load_cmd(
    file: Annotated[Path, typer.Argument(help="Guideline document (YAML or JSON)")],
    effective_from: Annotated[str, typer.Option("--effective-from", help="YYYY-MM-DD")],
    effective_to: Annotated[str | None, typer.Option("--effective-to", help="YYYY-MM-DD")] = None,
    firm: Annotated[int | None, typer.Option("--firm", help="Law firm id (a firm override)")] = None,
    engagement: Annotated[int | None, typer.Option("--engagement", help="Engagement id (an engagement override)")]
    = None,
) -> None:
    """Validate a guideline document and store it as a new version (company default, or a firm or
    engagement override)."""
    from rich.console import Console

    from triad.audit.service import Actor
    from triad.core import db
    from triad.core.errors import TriadError
    from triad.guidelines.service import load

    err = Console(stderr=True)
    try:
        text = file.read_text(encoding="utf-8")
        start = dt.date.fromisoformat(effective_from)
        end = dt.date.fromisoformat(effective_to) if effective_to else None
    except (OSError, ValueError) as exc:
        err.print(f"[red]error[/red] {exc}")
        raise typer.Exit(2) from None
    scope = "engagement" if engagement else "firm" if firm else "company"
    try:
        with db.transaction() as session:
            v = load(session=session, text=text, scope=scope, firm_id=firm, engagement_id=engagement,
                     effective_from=start, effective_to=end, actor=Actor("cli"))
            label, rules = v.label, sorted(v.document["rules"])
    except TriadError as exc:
        err.print(f"[red]error[/red] {file}: {exc.detail}")
        for e in exc.errors:
            err.print(f"  {e['field']}: {e['message']}")
        raise typer.Exit(1) from None
    Console().print(f"[green]Loaded[/green] {label} from {start}: {len(rules)} rules ({', '.join(rules)})")
