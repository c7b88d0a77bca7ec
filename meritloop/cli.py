"""The ``meritloop`` command."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from nats import errors as nats_errors

from shared.auth import Role, mint_token
from shared.settings import SERVICES, Settings, get_settings

app = typer.Typer(help="Meritloop: run, migrate and inspect a Meritloop installation.", no_args_is_help=True)


@app.command()
def migrate(
    service: Annotated[
        list[str] | None, typer.Option("--service", "-s", help="Only these services (repeatable).")
    ] = None,
    revision: Annotated[str, typer.Option(help="Alembic revision to upgrade to.")] = "head",
) -> None:
    """Apply each service's database migrations (and the notifications component's)."""
    from notifications.database import upgrade as upgrade_notifications
    from notifications.settings import NotificationSettings
    from shared.migrations import upgrade

    settings = get_settings()
    known = [*SERVICES, "notifications"]
    chosen = service or known
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise typer.BadParameter(f"unknown service(s): {', '.join(unknown)}; choose from {', '.join(known)}")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    for name in SERVICES:
        if name in chosen:
            upgrade(name, settings.database_url(name), revision)
            typer.echo(f"{name}: migrated to {revision}")
    if "notifications" in chosen:
        upgrade_notifications(NotificationSettings(**settings.model_dump()).notifications_url, revision)
        typer.echo(f"notifications: migrated to {revision}")


@app.command()
def token(
    person_id: Annotated[
        uuid.UUID | None, typer.Argument(help="The person the token speaks for (or give --email).")
    ] = None,
    email: Annotated[str | None, typer.Option(help="Find the person by e-mail address in the directory.")] = None,
    role: Annotated[
        list[Role] | None, typer.Option("--role", "-r", help="A role (repeatable); default employee.")
    ] = None,
    hours: Annotated[float, typer.Option(help="Lifetime in hours.")] = 8.0,
    database_url: Annotated[
        str | None, typer.Option(help="With --email: the reviews database (default: MERITLOOP_REVIEWS_DATABASE_URL).")
    ] = None,
) -> None:
    """Mint a development bearer token (signed with MERITLOOP_JWT_SECRET).

    In development any person id is accepted with any role: the services check roles, not
    that the person exists. ``--email`` looks the id up in the reviews database.
    """
    settings = _development_settings()
    if (person_id is None) == (email is None):
        raise typer.BadParameter("give a person id or --email, not both")
    if email is not None:
        from meritloop.tokens import UnknownPeople, tokens_for

        try:
            found = asyncio.run(tokens_for(settings, emails=[email], database_url=database_url))
        except UnknownPeople as exc:
            raise typer.BadParameter(str(exc)) from None
        person_id = uuid.UUID(found[0].person_id)
    assert person_id is not None
    typer.echo(mint_token(settings, person_id, role or [Role.employee], ttl=timedelta(hours=hours)))


@app.command()
def tokens(
    department: Annotated[
        list[str] | None, typer.Option("--department", "-d", help="Every active person of it (repeatable).")
    ] = None,
    email: Annotated[list[str] | None, typer.Option("--email", "-e", help="This person (repeatable).")] = None,
    person_id: Annotated[list[uuid.UUID] | None, typer.Option("--id", help="This person (repeatable).")] = None,
    role: Annotated[
        list[Role] | None, typer.Option("--role", "-r", help="A role for everyone, besides employee (repeatable).")
    ] = None,
    hours: Annotated[float, typer.Option(help="Lifetime in hours.")] = 8.0,
    database_url: Annotated[
        str | None, typer.Option(help="The reviews database (default: MERITLOOP_REVIEWS_DATABASE_URL).")
    ] = None,
) -> None:
    """Mint development tokens for many people at once, printed as a JSON list.

    Each entry has person_id, display_name, email, department, roles and token. Everyone is an
    employee; people who manage someone are managers too; --role adds roles for all.
    """
    import json

    from meritloop.tokens import UnknownPeople, tokens_for

    settings = _development_settings()
    if not (department or email or person_id):
        raise typer.BadParameter("choose people with --department, --email or --id")
    try:
        minted = asyncio.run(
            tokens_for(
                settings,
                departments=department or [],
                emails=email or [],
                ids=person_id or [],
                extra_roles=role or [],
                ttl=timedelta(hours=hours),
                database_url=database_url,
            )
        )
    except UnknownPeople as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(json.dumps([entry.as_dict() for entry in minted], indent=2))


def _development_settings() -> Settings:
    settings = get_settings()
    if settings.jwt_jwks_url:
        raise typer.BadParameter("tokens come from the identity provider when MERITLOOP_JWT_JWKS_URL is set")
    return settings


@app.command("settings")
def show_settings(
    markdown: Annotated[bool, typer.Option(help="Print the reference table of docs/configuration.md.")] = False,
) -> None:
    """List every setting: its environment variable, default and meaning."""
    from shared.settings import settings_reference

    if markdown:
        typer.echo(settings_reference(), nl=False)
        return
    current = get_settings()
    for name in type(current).model_fields:
        value = getattr(current, name)
        if value and any(word in name for word in ("secret", "token")):
            value = "****"
        typer.echo(f"MERITLOOP_{name.upper()}={value}")


@app.command("source-keys")
def source_keys(
    goals_key_file: Annotated[Path, typer.Option(help="The goals service's MERITLOOP_SOURCE_SIGNING_KEY, as a file.")],
    feedback_key_file: Annotated[
        Path, typer.Option(help="The feedback service's MERITLOOP_SOURCE_SIGNING_KEY, as a file.")
    ],
) -> None:
    """Print reviews' MERITLOOP_SOURCE_VERIFY_KEYS: the public keys of the two issuers' draft-source secrets."""
    import json

    from shared.attestation import MIN_KEY_LENGTH, key_from_secret, public_key_text

    secrets = {"goals": goals_key_file.read_text().strip(), "feedback": feedback_key_file.read_text().strip()}
    for issuer, secret in secrets.items():
        if len(secret) < MIN_KEY_LENGTH:
            raise typer.BadParameter(f"the {issuer} secret is shorter than {MIN_KEY_LENGTH} characters")
    if secrets["goals"] == secrets["feedback"]:
        raise typer.BadParameter("goals and feedback need secrets of their own: with one, each could sign as the other")
    public = {issuer: public_key_text(key_from_secret(secret, issuer)) for issuer, secret in secrets.items()}
    typer.echo(json.dumps(public))


@app.command()
def worker() -> None:
    """Run the Temporal workflow worker (what ``up`` starts as a process of its own); it needs no database."""
    from workflows.worker import run_worker

    asyncio.run(run_worker(get_settings()))


@app.command()
def activities(
    service: Annotated[str, typer.Argument(help="The service whose activities to run: feedback, reviews or rewards.")],
) -> None:
    """Run a service's Temporal activities as a process of their own.

    For a deployment that runs them beside the API instead of inside it (the service then has
    MERITLOOP_TEMPORAL_ACTIVITY_WORKER=false); it needs that service's database URL.
    """
    import importlib

    from shared.service import ServiceDefinition, run_activities

    if service not in ("feedback", "reviews", "rewards"):
        raise typer.BadParameter("feedback, reviews or rewards", param_hint="SERVICE")
    definition: ServiceDefinition = importlib.import_module(f"services.{service}.app").DEFINITION
    asyncio.run(run_activities(definition, get_settings()))


@app.command()
def up(
    demo: Annotated[
        bool, typer.Option("--demo/--no-demo", help="Load a demo organisation if the directory is empty.")
    ] = True,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for everything to be ready before giving up.")
    ] = 120.0,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Folder for databases, NATS/Temporal data and logs (MERITLOOP_DATA_DIR)."),
    ] = None,
) -> None:
    """Start NATS, Temporal, the four services, notifications with a development mail sink, and the worker.

    Everything stops on Ctrl-C.

    A NATS or Temporal server that already answers at MERITLOOP_NATS_URL or
    MERITLOOP_TEMPORAL_ADDRESS is used instead of starting one.
    """
    from meritloop.launcher import run_up

    code = run_up(demo=demo, timeout=timeout, data_dir=data_dir)
    if code:
        raise typer.Exit(code)


@app.command("demo-cycle")
def demo_cycle(
    department: Annotated[
        list[str] | None, typer.Option("--department", "-d", help="Participants' department (repeatable).")
    ] = None,
    days_per_phase: Annotated[int, typer.Option(help="Days between the phase deadlines.")] = 7,
) -> None:
    """Launch a review cycle for the demo organisation (after 'meritloop up') and list its first tasks."""
    import httpx

    from meritloop.demo import DemoError, launch_demo_cycle

    settings = get_settings()

    async def launch() -> None:
        async with httpx.AsyncClient(base_url=settings.service_url("reviews"), timeout=10.0, trust_env=False) as client:
            cycle = await launch_demo_cycle(
                client,
                settings,
                departments=department or ["Engineering", "Sales"],
                days_per_phase=days_per_phase,
            )
        typer.echo(
            f"cycle {cycle.cycle_id} launched: {cycle.participants} participants, "
            f"{len(cycle.tasks)} self-assessment tasks in {cycle.seconds:.1f}s"
        )
        for task in sorted(cycle.tasks, key=lambda t: t.assignee_name):
            typer.echo(f"  {task.assignee_name:<18} meritloop token {task.assignee_id}   task {task.task_id}")
        typer.echo(
            "Each person: GET /tasks (their inbox), GET /tasks/{id} (the form), POST /tasks/{id}/submit; "
            f"HR: GET /review-cycles/{cycle.cycle_id}/progress. Walkthrough: docs/review-cycles.md"
        )

    try:
        asyncio.run(launch())
    except (DemoError, httpx.HTTPError) as error:
        typer.echo(f"demo-cycle: {error}", err=True)
        raise typer.Exit(1) from error


people_app = typer.Typer(help="The people directory (reviews service).", no_args_is_help=True)
app.add_typer(people_app, name="people")


@people_app.command("import")
def import_people_file(
    file: Annotated[Path, typer.Argument(help="A CSV or JSON export (see docs/directory.md).", exists=True)],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report what would happen.")] = False,
    valid_rows: Annotated[
        bool, typer.Option("--valid-rows", help="Apply the valid rows even if some are rejected.")
    ] = False,
    deactivate_missing: Annotated[
        bool, typer.Option("--deactivate-missing", help="A full export: deactivate people absent from the file.")
    ] = False,
    file_format: Annotated[str | None, typer.Option("--format", help="csv or json (default: from the name).")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="The reviews database (default: MERITLOOP_REVIEWS_DATABASE_URL).")
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write the full JSON report to this file.")] = None,
) -> None:
    """Import people into the directory, in-process against the reviews database.

    Events for every changed person go to the outbox; the reviews service publishes them.
    """
    from services.reviews.directory.importer import ImportMode, MissingPeople, import_file

    url = database_url or get_settings().database_url("reviews")
    result = asyncio.run(
        import_file(
            url,
            file,
            file_format=file_format,
            dry_run=dry_run,
            mode=ImportMode.valid_rows if valid_rows else ImportMode.all_or_nothing,
            missing=MissingPeople.deactivate if deactivate_missing else MissingPeople.keep,
        )
    )
    for row in result.rows:
        if row.action == "reject":
            typer.echo(f"row {row.row} ({row.key}): rejected: {'; '.join(row.reasons)}", err=True)
    counts = ", ".join(f"{action.value} {count}" for action, count in result.summary.items())
    typer.echo(f"{counts}; {'applied' if result.applied else 'nothing written'}")
    if report is not None:
        report.write_text(result.model_dump_json(indent=2))
    if result.rejected and not result.applied:
        raise typer.Exit(1)


feedback_keys = typer.Typer(help="The feedback service's key-encryption keys (docs/feedback.md).", no_args_is_help=True)
app.add_typer(feedback_keys, name="feedback-keys")


@feedback_keys.command("rotate")
def rotate_feedback_keys(
    generate: Annotated[
        bool,
        typer.Option(
            "--generate/--no-generate",
            help="Put a new key first in MERITLOOP_FEEDBACK_KEK_FILE (off: the file, e.g. a Secret, was updated).",
        ),
    ] = True,
    prune: Annotated[
        bool, typer.Option("--prune/--keep-old", help="Remove older keys from the file once no data key uses them.")
    ] = True,
) -> None:
    """Re-wrap every feedback data key and tally key under the current key-encryption key; content is not touched."""
    from services.feedback.rotation import rotate_kek

    settings = get_settings()
    if not settings.feedback_kek_path().exists():
        raise typer.BadParameter(f"no key file at {settings.feedback_kek_path()}")
    result = asyncio.run(rotate_kek(settings, generate=generate, prune=prune))
    typer.echo(
        f"current key {result.current}: {result.rewrapped} data keys re-wrapped,"
        f" {result.tally_keys} tally keys re-wrapped"
    )
    if result.removed:
        typer.echo(f"removed from the key file: {', '.join(result.removed)}")
    if len(result.kept) > 1:
        typer.echo(f"still in the key file: {', '.join(result.kept[1:])}")


bus_app = typer.Typer(help="The event bus (NATS JetStream): streams and durable consumers.", no_args_is_help=True)
app.add_typer(bus_app, name="bus")


@bus_app.command("provision")
def provision_bus_command(
    wait: Annotated[float, typer.Option(help="Seconds to keep trying while NATS does not answer yet.")] = 60.0,
) -> None:
    """Define every stream and durable consumer of this version (create or update; safe to repeat).

    Behind NATS users, run it as the `provisioner` user (MERITLOOP_NATS_USER and
    MERITLOOP_NATS_PASSWORD(_FILE)) before the services of a new version start: they may only
    read through consumers defined for them (docs/operations.md, "The event bus").
    """
    from meritloop.bus import provision_bus

    settings = get_settings()

    async def attempt() -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            try:
                plan = await provision_bus(
                    settings, user=settings.nats_user, password=settings.nats_password, echo=typer.echo
                )
            except (ConnectionRefusedError, nats_errors.NoServersError) as error:
                if loop.time() >= deadline:
                    typer.echo(f"bus provision: no answer from NATS at {settings.nats_url} in {wait:.0f}s", err=True)
                    raise typer.Exit(1) from error
                typer.echo(f"NATS at {settings.nats_url} does not answer yet ({error}); retrying", err=True)
                await asyncio.sleep(2.0)
                continue
            typer.echo(f"provisioned {len(plan.streams)} streams and {len(plan.consumers)} consumers")
            return

    try:
        asyncio.run(attempt())
    except nats_errors.TimeoutError as error:
        # A JetStream call this user may not make is not answered at all: the server drops it.
        who = settings.nats_user or "the anonymous connection"
        typer.echo(f"bus provision: JetStream did not answer {who} (is it the provisioner user?)", err=True)
        raise typer.Exit(1) from error
    except nats_errors.Error as error:
        typer.echo(f"bus provision: NATS refused: {type(error).__name__}: {error}", err=True)
        raise typer.Exit(1) from error


if __name__ == "__main__":
    app()
