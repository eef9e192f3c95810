"""The ``fieldapp`` command (see CONTRACT.md). Each command calls services and commits once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app

from fieldapp.app import PROJECT_ROOT, create_app
from fieldapp.db import db, unit_of_work
from fieldapp.errors import DomainError


@contextmanager
def _app_context(**config: Any) -> Iterator[Flask]:
    try:
        app = create_app(config or None)
    except DomainError as exc:  # e.g. the blob store's bucket is missing: one line, no traceback
        _fail(exc)
    with app.app_context():
        yield app


def _fail(exc: DomainError) -> None:
    click.echo(f"error: {exc.message}", err=True)
    if isinstance(exc.details, list):
        for problem in exc.details:
            if isinstance(problem, dict):
                where = ", ".join(
                    f"{k} {problem[k]}" for k in ("sheet", "row", "column") if problem.get(k)
                )
                click.echo(f"  - {where + ': ' if where else ''}{problem.get('message')}", err=True)
    raise SystemExit(1)


@click.group()
def main() -> None:
    """fieldapp: field data collection for social-work programmes."""


# -- database --------------------------------------------------------------------------------


@main.group("db")
def db_group() -> None:
    """Database maintenance."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Apply the migrations to the configured database."""
    from fieldapp.migrate import upgrade  # noqa: PLC0415

    with _app_context():
        assert db.engine is not None
        upgrade(db.engine)
    click.echo("database is up to date")


# -- users and regions -----------------------------------------------------------------------


@main.group()
def users() -> None:
    """Accounts."""


def _read_password() -> str:
    if sys.stdin.isatty():
        return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


@users.command("create")
@click.argument("username")
@click.option(
    "--role", required=True, type=click.Choice(["admin", "designer", "coordinator", "field_worker"])
)
@click.option("--region", "regions", multiple=True, help="region code; repeat for several")
@click.option("--display-name", default="")
def users_create(username: str, role: str, regions: tuple[str, ...], display_name: str) -> None:
    """Make a user; the password is asked for, or read from standard input."""
    from fieldapp.auth import services  # noqa: PLC0415

    password = _read_password()
    with _app_context():
        try:
            with unit_of_work():
                region_rows = []
                for code in regions:
                    region = services.get_region(code)
                    if region is None:
                        region = services.create_region(code, code, actor=None)
                        click.echo(f"created region {region.code}")
                    region_rows.append(region)
                user = services.create_user(
                    username,
                    role=role,
                    password=password,
                    actor=None,
                    regions=region_rows,
                    display_name=display_name,
                )
        except DomainError as exc:
            _fail(exc)
        click.echo(f"created {user.role} {user.username}")


@users.command("token")
@click.argument("username")
@click.option("--label", default="command line")
@click.option(
    "--expires-in",
    "expires_in",
    type=click.IntRange(1, 366),
    default=None,
    help="days the token works (default API_TOKEN_DAYS, 90)",
)
def users_token(username: str, label: str, expires_in: int | None) -> None:
    """Print a new API token for USERNAME."""
    from datetime import timedelta  # noqa: PLC0415

    from fieldapp.auth import services  # noqa: PLC0415

    with _app_context() as app:
        user = services.get_user_by_username(username)
        if user is None:
            click.echo(f"error: there is no user {username!r}", err=True)
            raise SystemExit(1)
        days = expires_in if expires_in is not None else int(app.config["API_TOKEN_DAYS"])
        try:
            with unit_of_work():
                token, _ = services.issue_api_token(
                    user, actor=None, label=label, expires_in=timedelta(days=days)
                )
        except DomainError as exc:
            _fail(exc)
        click.echo(token)


@main.group()
def devices() -> None:
    """Phones running ODK Collect."""


@devices.command("create")
@click.option("--user", "username", required=True, help="the field worker's username")
@click.option("--label", default="", help="a name for the phone")
@click.option(
    "--site",
    default=None,
    help="public address (default FIELDAPP_SITE_URL or http://127.0.0.1:5000)",
)
def devices_create(username: str, label: str, site: str | None) -> None:
    """Make a device token and print the ODK Collect server URL {site}/collect/key/{token}."""
    from fieldapp.auth import devices as device_services  # noqa: PLC0415
    from fieldapp.auth import services  # noqa: PLC0415

    with _app_context() as app:
        user = services.get_user_by_username(username)
        if user is None:
            click.echo(f"error: there is no user {username!r}", err=True)
            raise SystemExit(1)
        try:
            with unit_of_work():
                token, _ = device_services.create_device(user, actor=None, label=label)
        except DomainError as exc:
            _fail(exc)
        base = site or app.config.get("SITE_URL") or "http://127.0.0.1:5000"
        click.echo(device_services.collect_url(base, token))


@main.group()
def regions() -> None:
    """Regions."""


@regions.command("create")
@click.argument("code")
@click.argument("name")
def regions_create(code: str, name: str) -> None:
    """Make a region."""
    from fieldapp.auth import services  # noqa: PLC0415

    with _app_context():
        try:
            with unit_of_work():
                services.create_region(code, name, actor=None)
        except DomainError as exc:
            _fail(exc)
        click.echo(f"created region {code}")


# -- forms -----------------------------------------------------------------------------------


@main.group()
def forms() -> None:
    """The form catalogue."""


def _publish_paths(paths: list[Path], *, skip_unchanged: bool, note: str | None = None) -> int:
    """Publish each XLSForm; return how many failed. Each file is its own unit of work."""
    from fieldapp.forms import services  # noqa: PLC0415
    from fieldapp.web.files import blob_store  # noqa: PLC0415

    app = current_app
    policy = services.ValidationPolicy(
        mode=str(app.config["ODK_VALIDATE"]), timeout=float(app.config["ODK_VALIDATE_TIMEOUT"])
    )
    failures = 0
    for path in paths:
        try:
            with unit_of_work():
                version, changed = services.publish_file(
                    path.read_bytes(),
                    filename=path.name,
                    actor=None,
                    store=blob_store(),
                    policy=policy,
                    max_bytes=int(app.config["XLSFORM_MAX_BYTES"]),
                    skip_unchanged=skip_unchanged,
                    note=note,
                )
        except DomainError as exc:
            failures += 1
            click.echo(f"{path}: not published", err=True)
            with suppress(SystemExit):
                _fail(exc)
            continue
        if not changed:
            click.echo(
                f"{path.name}: {version.form.form_id} version {version.version} already published"
            )
            continue
        for warning in version.warnings:
            kind = "note" if warning.get("note") else "warning"
            click.echo(f"{path.name}: {kind}: {warning.get('message')}", err=True)
        click.echo(
            f"{path.name}: published {version.form.form_id} version {version.version} "
            f"(ODK Validate: {version.validation})"
        )
    return failures


@forms.command("publish")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--note",
    default=None,
    help="What changed in this version, kept on each version published and in the audit log.",
)
def forms_publish(files: tuple[Path, ...], note: str | None) -> None:
    """Compile and publish XLSForms; exits non-zero if any has errors."""
    with _app_context():
        failures = _publish_paths(list(files), skip_unchanged=False, note=note)
    if failures:
        raise SystemExit(1)


# -- backups ---------------------------------------------------------------------------------


def _size(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


@main.command("backup")
@click.option(
    "--to", "to", required=True, type=click.Path(dir_okay=False, path_type=Path), help="new file"
)
@click.option(
    "--since",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="an earlier backup: leave out the blobs it (with its bases) holds",
)
@click.option("--recipient", "recipients", multiple=True, help="age recipient (age1...)")
def backup_command(to: Path, since: Path | None, recipients: tuple[str, ...]) -> None:
    """Write one encrypted archive of the database, the blobs and the secret key.

    The passphrase comes from FIELDAPP_BACKUP_PASSPHRASE (and/or --recipient); the server may
    keep taking submissions meanwhile.
    """
    from fieldapp import backup  # noqa: PLC0415

    try:
        keys = backup.keys_from_env(recipients=recipients, sealing=True)
        summary = backup.make_backup(backup.Instance.from_env(), to, keys, since=since)
    except DomainError as exc:
        _fail(exc)
    kind = f"incremental on {summary.base}" if summary.base else "full"
    click.echo(
        f"backup {summary.archive_id} ({kind}) written to {to}: database "
        f"{_size(summary.database_bytes)}, {summary.blobs} blobs ({_size(summary.blob_bytes)})"
        f", {summary.blobs_earlier} in earlier backups; archive {_size(summary.archive_bytes)}"
    )


@main.command("restore")
@click.option(
    "--from", "source", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--base",
    "bases",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="the backup an incremental one was made --since (repeat for a longer chain)",
)
@click.option(
    "--identity",
    "identity_file",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="a file with the age identity (AGE-SECRET-KEY-1...) of a --recipient backup",
)
def restore_command(source: Path, bases: tuple[Path, ...], identity_file: Path | None) -> None:
    """Restore a backup into an empty data dir (and an empty database or schema).

    Everything is decrypted and checked before anything is written; then run
    `fieldapp db upgrade` to bring the database to this version's migrations.
    """
    from fieldapp import backup  # noqa: PLC0415

    try:
        keys = backup.keys_from_env(identity_file=identity_file, sealing=False)
        summary = backup.restore(backup.Instance.from_env(), source, keys, list(bases))
    except DomainError as exc:
        _fail(exc)
    via = f" with {len(summary.bases)} base backup(s)" if summary.bases else ""
    click.echo(
        f"restored backup {summary.archive_id}{via}: {summary.blobs} blobs, database at "
        f"revision {summary.revision}; run `fieldapp db upgrade` next"
    )


# -- static assets ---------------------------------------------------------------------------


@main.group()
def assets() -> None:
    """Static files (styles, the web form bundle)."""


@assets.command("compress")
@click.option("--quiet", is_flag=True, help="print nothing")
@click.option("--low-priority", is_flag=True, help="run niced (beside a starting server)")
def assets_compress(quiet: bool, low_priority: bool) -> None:
    """Make the gzip and brotli variants of every static file now (STATIC_CACHE_DIR).

    The server makes any that are missing on first request; this saves the first phones the
    wait (brotli of the web form bundle takes seconds).
    """
    from fieldapp.web.assets import AssetIndex, cache_dir_of  # noqa: PLC0415

    if low_priority:
        os.nice(10)
    with _app_context() as app:
        found = AssetIndex(Path(app.static_folder or "static"), cache_dir_of(app.config))
        count = found.compress_all()
    if not quiet:
        click.echo(f"{count} compressed variants in {found.cache_dir}")


# -- serving ---------------------------------------------------------------------------------


def _serve(host: str, port: int) -> None:
    from fieldapp.serve import serve  # noqa: PLC0415

    with _app_context():
        pass  # the configuration and the blob store are checked before gunicorn starts
    # the compressed variants of the static files, made alongside (nice: serving comes first)
    subprocess.Popen(
        [sys.executable, "-m", "fieldapp.cli", "assets", "compress", "--quiet", "--low-priority"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    serve(host, port)


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve_command(host: str, port: int) -> None:
    """Serve the configured instance with gunicorn."""
    _serve(host, port)


def programme_forms_dir() -> Path:
    """``./forms`` when run from a checkout, else the repository's ``forms/``."""
    here = Path.cwd() / "forms"
    return here if here.is_dir() else PROJECT_ROOT / "forms"


def programme_form_files(directory: Path) -> list[Path]:
    """The XLSForms in ``directory``, by name (README files and editor lock files skipped)."""
    return sorted(
        p
        for p in directory.iterdir()
        if p.suffix in (".xlsx", ".xls", ".csv", ".md")
        and not p.name.startswith(("~", "."))
        and not p.stem.upper().startswith("README")
    )


@main.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--data-dir", default=None, help="default: ./instance")
@click.option("--no-serve", is_flag=True, help="set up, then exit without serving")
@click.option(
    "--no-sample-data", is_flag=True, help="do not load the simulated year of the programme"
)
@click.option(
    "--scale",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.01, max=100),
    help="size of the simulated year (1: ~700 people, ~20,000 submissions)",
)
@click.option("--seed", default=1, show_default=True, type=int, help="seed of the simulated year")
def demo(  # noqa: PLR0917 (click passes the options by position)
    host: str,
    port: int,
    data_dir: str | None,
    no_serve: bool,
    no_sample_data: bool,
    scale: float,
    seed: int,
) -> None:
    """Create or upgrade the database, publish forms/, add demo users, load a simulated year of
    the programme (first start only), then serve."""
    from fieldapp.config import data_dir_from_env  # noqa: PLC0415
    from fieldapp.demo import demo_password, ensure_demo_data, seed_demo_cases  # noqa: PLC0415
    from fieldapp.migrate import upgrade  # noqa: PLC0415

    directory = data_dir_from_env(data_dir)
    os.environ["FIELDAPP_DATA_DIR"] = str(directory)
    with _app_context() as app:
        assert db.engine is not None
        upgrade(db.engine)
        password = demo_password(Path(app.config["DATA_DIR"]))
        with unit_of_work():
            created = ensure_demo_data(password)
        for line in created:
            click.echo(f"created {line}")
        paths = programme_form_files(programme_forms_dir())
        failures = _publish_paths(paths, skip_unchanged=True)
        if failures:
            raise SystemExit(1)
        if no_sample_data:
            with unit_of_work():
                seeded = seed_demo_cases()
            if seeded:
                click.echo(f"created {seeded} demo cases")
        else:
            _sample_year(app, password, seed=seed, scale=scale, now=None, skip_if_loaded=True)
    click.echo(f"data dir: {directory}")
    click.echo("demo users: admin, designer, coord1, coord2, worker1, worker2, worker3")
    if not no_sample_data:
        click.echo(
            "sample staff: coord-<region> (coordinators), sw-<region>-<n> (social workers); "
            "the same password"
        )
    click.echo(f"demo password: {password}")
    if no_serve:
        return
    click.echo(f"serving on http://{host}:{port}/  (ODK Collect: http://{host}:{port}/collect)")
    _serve(host, port)


# -- retention and erasure -------------------------------------------------------------------


@main.command("purge")
@click.option("--dry-run", is_flag=True, help="say what would be removed; change nothing")
def purge_command(dry_run: bool) -> None:
    """Remove deleted submissions and closed cases past their retention, then unreferenced
    blobs (what the retention job does every hour; never beside a running pass)."""
    from fieldapp.retention.worker import run_pass  # noqa: PLC0415

    with _app_context() as app:
        report = run_pass(app, holder=f"cli:{os.getpid()}", dry_run=dry_run)
    if report is None:
        click.echo("error: a retention pass is running elsewhere; try again later", err=True)
        raise SystemExit(1)
    verb = "would remove" if dry_run else "removed"
    for form_id, n in sorted(report.submissions.items()):
        click.echo(f"{verb} {n} deleted submission(s) of form {form_id}")
    for name, n in sorted(report.cases.items()):
        click.echo(f"{verb} {n} closed case(s) of list {name}")
    if report.case_submissions:
        click.echo(f"{verb} {report.case_submissions} submission(s) with those cases")
    if not dry_run:
        click.echo(f"removed {report.blobs} unreferenced file(s)")
    if not report.total:
        click.echo("nothing past its retention")


@main.command("erase-case")
@click.argument("case_id")
@click.option("--reason", required=True, help="why (kept in the audit log: no names)")
@click.option("--by", "username", required=True, help="the administrator who erases")
@click.option("--dry-run", is_flag=True, help="say what would be erased; change nothing")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
def erase_case_command(case_id: str, reason: str, username: str, dry_run: bool, yes: bool) -> None:
    """Erase a case (UUID or code) and everything derived from it, for good."""
    from datetime import timedelta  # noqa: PLC0415

    from fieldapp.auth.services import get_user_by_username  # noqa: PLC0415
    from fieldapp.blobs import BlobStorage  # noqa: PLC0415
    from fieldapp.errors import NotFound  # noqa: PLC0415
    from fieldapp.retention import blobgc, erasure  # noqa: PLC0415

    with _app_context() as app:
        try:
            actor = get_user_by_username(username)
            if actor is None or not erasure.may_erase(actor):
                raise NotFound(
                    "'%(username)s' is not an active administrator.", params={"username": username}
                )
            case = erasure.case_to_erase(case_id, actor=actor)
            erasure.check_reason(reason, case)
            plan = erasure.plan_case(case)
        except DomainError as exc:
            _fail(exc)
        code = case.code
        click.echo(f"erasing case {code} takes: " + ", ".join(
            f"{n} {kind.replace('_', ' ')}" for kind, n in plan.counts.items()
        ))  # fmt: skip
        if plan.other_case_codes:
            click.echo("other cases lose submissions: " + ", ".join(plan.other_case_codes))
        db.session.rollback()
        if dry_run:
            return
        if not yes and not click.confirm("erase for good?", default=False):
            raise SystemExit(1)
        assert actor is not None
        try:
            with unit_of_work():
                done = erasure.erase_case(
                    erasure.case_to_erase(case_id, actor=actor), actor=actor, reason=reason
                )
        except DomainError as exc:
            _fail(exc)
        store = app.extensions.get("fieldapp.blobs")
        removed = 0
        if isinstance(store, BlobStorage) and done.blobs:
            removed = blobgc.collect(store, grace=timedelta(0), only=done.blobs)
    click.echo(f"erased case {code}; removed {removed} file(s) no longer used")


def _sample_year(
    app: Flask,
    password: str,
    *,
    seed: int,
    scale: float,
    now: datetime | None,
    skip_if_loaded: bool,
) -> bool:
    """Load the simulated year unless the database already has submissions; say so."""
    from fieldapp.simulation.engine import has_submissions, load_sample_data  # noqa: PLC0415
    from fieldapp.web.files import blob_store  # noqa: PLC0415

    if has_submissions():
        db.session.rollback()
        if skip_if_loaded:
            click.echo("sample data: already loaded")
            return False
        click.echo("error: the database already holds submissions", err=True)
        raise SystemExit(1)
    db.session.rollback()
    click.echo(f"sample data: simulating a year of the programme (seed {seed}, scale {scale:g})")
    result = load_sample_data(
        seed=seed,
        scale=scale,
        password=password,
        store=blob_store(),
        now=now,
        progress=click.echo,
        overdue_days=int(app.config["URGENT_OVERDUE_DAYS"]),
    )
    forms = ", ".join(f"{n:,} {k}" for k, n in sorted(result.submissions.items()))
    click.echo(
        f"sample data: {result.total_submissions:,} submissions ({forms}) in {result.seconds:.0f} s"
    )
    _analyze()
    return True


def _analyze() -> None:
    """Fresh planner statistics after a bulk load (the screens are about 10x slower on a new
    PostgreSQL year until autovacuum gets to it; SQLite's planner gets its statistics too)."""
    from sqlalchemy import text  # noqa: PLC0415

    with unit_of_work() as session:
        session.execute(text("ANALYZE"))


@main.command("simulate")
@click.option("--seed", default=1, show_default=True, type=int)
@click.option(
    "--scale",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.01, max=100),
    help="1: ~700 people and ~20,000 submissions; 10: ten times that",
)
@click.option(
    "--now",
    "now_text",
    default=None,
    help="end of the simulated year, ISO 8601 in UTC (default: now)",
)
def simulate(seed: int, scale: float, now_text: str | None) -> None:
    """Load a simulated year of the programme into the configured database (which must hold no
    submissions yet): publishes forms/, makes the demo users, regions and staff, then replays
    the year through the real ingest and review. Passwords: ``FIELDAPP_DEMO_PASSWORD`` or the
    data dir's generated demo password."""
    from datetime import UTC, datetime  # noqa: PLC0415

    from fieldapp.demo import demo_password, ensure_demo_data  # noqa: PLC0415
    from fieldapp.migrate import upgrade  # noqa: PLC0415

    now = None
    if now_text:
        try:
            now = datetime.fromisoformat(now_text)
        except ValueError:
            click.echo("error: --now must be an ISO 8601 date and time", err=True)
            raise SystemExit(2) from None
        now = now.replace(tzinfo=UTC) if now.tzinfo is None else now
    with _app_context() as app:
        assert db.engine is not None
        upgrade(db.engine)
        password = demo_password(Path(app.config["DATA_DIR"]))
        with unit_of_work():
            ensure_demo_data(password)
        if _publish_paths(programme_form_files(programme_forms_dir()), skip_unchanged=True):
            raise SystemExit(1)
        _sample_year(app, password, seed=seed, scale=scale, now=now, skip_if_loaded=False)


if __name__ == "__main__":
    main()
