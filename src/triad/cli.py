"""The ``triad`` command. Each domain adds its own sub-app here."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from triad.ap.cli import app as ap_app
from triad.guidelines.cli import app as guidelines_app
from triad.invoices.cli import app as invoices_app
from triad.ledes.cli import app as ledes_app
from triad.vendors.cli import app as vendors_app

app = typer.Typer(no_args_is_help=True, help="Triad: one source of truth for legal, finance and procurement.",
                  pretty_exceptions_enable=False)
console = Console()
err = Console(stderr=True)

db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
demo_app = typer.Typer(no_args_is_help=True, help="Demo data.")
users_app = typer.Typer(no_args_is_help=True, help="Users and API tokens.")
audit_app = typer.Typer(no_args_is_help=True, help="The audit trail.")
mail_app = typer.Typer(no_args_is_help=True, help="Outgoing mail.")
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
app.add_typer(mail_app, name="mail")
app.add_typer(ledes_app, name="ledes")
app.add_typer(invoices_app, name="invoices")
app.add_typer(guidelines_app, name="guidelines")
app.add_typer(ap_app, name="ap")
app.add_typer(vendors_app, name="vendors")


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations to the configured database (TRIAD_DATABASE_URL, default var/triad.db)."""
    from triad.core import db
    from triad.core.migrate import current, upgrade

    engine = db.get_engine()
    upgrade(engine, revision)
    console.print(f"[green]Database at revision {current(engine)}[/green] "
                  f"({engine.url.render_as_string(hide_password=True)})")


@demo_app.command("load")
def demo_load(seed: int = 42) -> None:
    """Load the demo company (idempotent: does nothing if it is already there)."""
    from triad.core import db
    from triad.demo.loader import DEMO_PASSWORD, load

    with db.transaction() as session:
        created = load(session=session, seed=seed)
    if created:
        console.print(f"[green]Demo data loaded[/green]: {created}")
    else:
        console.print("Demo data already present; nothing changed.")
    console.print(f"Demo logins (password [bold]{DEMO_PASSWORD}[/bold]): "
                  "admin, legal_ops, matter_manager, finance_ap, procurement, auditor, counsel_1 … counsel_6")


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Option(help="admin, legal_ops, matter_manager, finance_ap, procurement, "
                                            "auditor or outside_counsel")],
    firm: Annotated[int | None, typer.Option("--firm", help="Law firm id (outside_counsel only)")] = None,
    email: Annotated[str | None, typer.Option()] = None,
    full_name: Annotated[str | None, typer.Option("--name")] = None,
    password: Annotated[str | None, typer.Option(envvar="TRIAD_NEW_USER_PASSWORD",
                                                 help="Prompted for when not given")] = None,
) -> None:
    """Create a user."""
    from pydantic import ValidationError

    from triad.audit.service import Actor
    from triad.auth.schemas import UserCreate
    from triad.auth.service import create_user
    from triad.core import db
    from triad.core.errors import TriadError

    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        data = UserCreate(username=username, email=email or f"{username}@example.com",
                          full_name=full_name or username, role=role, firm_id=firm, password=password)
        with db.transaction() as session:
            user = create_user(session=session, data=data, actor=Actor("cli"))
            uid = user.id
    except ValidationError as exc:
        for e in exc.errors():
            err.print(f"[red]error[/red] {'.'.join(map(str, e['loc'])) or 'user'}: {e['msg']}")
        raise typer.Exit(2) from None
    except TriadError as exc:
        err.print(f"[red]error[/red] {exc.detail}")
        raise typer.Exit(2) from None
    console.print(f"[green]Created user {username}[/green] (id {uid}, role {role})")


@users_app.command("token")
def users_token(username: str, name: str = "cli", days: int = 365) -> None:
    """Create an API token for a user and print it (shown once)."""
    from sqlalchemy import select

    from triad.audit.service import Actor
    from triad.auth.models import User
    from triad.auth.service import create_api_token
    from triad.core import db

    with db.transaction() as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            err.print(f"[red]error[/red] no user {username!r}")
            raise typer.Exit(2)
        _, plain = create_api_token(session=session, user=user, name=name, expires_in_days=days,
                                    actor=Actor("cli"))
    console.print(plain)


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the hash chain. Exit 0 when intact, 1 naming the first bad event otherwise."""
    from triad.audit.service import verify
    from triad.core import db

    with db.session_factory()() as session:
        result = verify(session)
    if result.ok:
        console.print(f"[green]Audit trail intact[/green]: {result.checked} events verified.")
        return
    err.print(f"[red]Audit trail broken[/red] at event {result.first_bad_seq}: {result.problem} "
              f"({result.checked} events before it are intact)")
    raise typer.Exit(1)


@mail_app.command("send")
def mail_send() -> None:
    """Send queued mail now (SMTP, or var/outbox/ when TRIAD_SMTP_URL is unset)."""
    from triad.core import db
    from triad.notifications.service import deliver_pending

    with db.transaction() as session:
        n = deliver_pending(session=session)
    console.print(f"Sent {n} message(s).")


@app.command("serve")
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    upgrade: Annotated[bool, typer.Option(help="Run migrations first")] = False,
    demo: Annotated[bool, typer.Option(help="Load demo data if the database is empty")] = False,
) -> None:
    """Serve the web app and the API."""
    import uvicorn

    from triad.app import create_app
    from triad.core import db

    if upgrade:
        db_upgrade()
    if demo:
        from triad.demo.loader import DEMO_PASSWORD, is_empty, load

        with db.transaction() as session:
            if is_empty(session):
                load(session=session)
                console.print("[green]Demo data loaded.[/green]")
        console.print(f"Demo logins: admin, legal_ops, matter_manager, finance_ap, procurement, auditor, "
                      f"counsel_1 … counsel_6 — password [bold]{DEMO_PASSWORD}[/bold]")
    from triad.notifications.worker import start_mail_worker

    start_mail_worker()
    console.print(f"Triad is at [bold]http://{host}:{port}/[/bold]  (API: /api/v1, OpenAPI: /openapi.json)")
    uvicorn.run(create_app(), host=host, port=port, log_level="info")


def main() -> None:  # pragma: no cover
    app(prog_name="triad")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
