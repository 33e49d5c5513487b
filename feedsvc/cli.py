"""The `feedsvc` console script: serve, scheduler, demo, migrate, render, token, partner."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable
from datetime import datetime
from types import FrameType
from typing import TypeVar

import click
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from feedsvc import db, demo, tokens, users
from feedsvc.config import ConfigError, Settings
from feedsvc.errors import FeedsvcError
from feedsvc.jobs import Renderer, build_scheduler, utcnow
from feedsvc.partner_cli import partner

log = logging.getLogger("feedsvc")
T = TypeVar("T")


def _settings() -> Settings:
    try:
        settings = Settings.load()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # APScheduler logs every run at INFO; our jobs log what they did instead.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    return settings


def _engine(settings: Settings) -> Engine:
    """The command's engine, disposed when the command ends (also when run in-process)."""
    engine = db.make_engine(settings.database_url)
    click.get_current_context().call_on_close(engine.dispose)
    return engine


def _run(work: Callable[[Session, datetime], T]) -> T:
    """Run one use case in one transaction of the configured (and migrated) database."""
    engine = _engine(_settings())
    db.migrate(engine)
    try:
        with db.transaction(db.session_factory(engine)) as session:
            return work(session, utcnow())
    except FeedsvcError as exc:
        raise click.ClickException(exc.detail) from exc


@click.group()
def main() -> None:
    """feedsvc: RSS, Atom and JSON feeds for the news portal."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Run the web service and the scheduler in one process (the embedded default)."""
    import waitress

    from feedsvc.app import create_app

    settings = _settings().serving_at(host, port)
    engine = _engine(settings)
    db.migrate(engine)
    factory = db.session_factory(engine)
    if settings.load_demo_on_empty:
        with db.transaction(factory) as session:
            if demo.is_empty(session):
                count = demo.load(session, utcnow(), settings)
                log.info("empty database: loaded %d demo articles", count)
    renderer = Renderer(factory, settings)
    renderer.sweep()  # so the first reader finds every feed rendered
    scheduler = build_scheduler(renderer, blocking=False)
    scheduler.start()
    app = create_app(settings, engine)
    log.info("serving on http://%s:%d (feeds under /feeds)", host, port)
    try:
        waitress.serve(app, host=host, port=port, threads=8, ident="feedsvc")
    finally:
        scheduler.shutdown(wait=True)
        renderer.resign()
        app.extensions["feedsvc_traffic"].flush()  # the counts since the last batch


@main.command()
def scheduler() -> None:
    """Run the scheduler alone (production: one or more beside the web workers)."""
    settings = _settings()
    engine = _engine(settings)
    if not db.is_migrated(engine):
        raise click.ClickException("the database has no schema yet: run `feedsvc migrate`")
    renderer = Renderer(db.session_factory(engine), settings)
    sched = build_scheduler(renderer, blocking=True)

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping the scheduler", signum)
        sched.shutdown(wait=False)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("scheduler %s starting", renderer.holder)
    sched.start()
    renderer.resign()


@main.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    settings = _settings()
    db.migrate(_engine(settings))
    click.echo("database schema is up to date")


@main.command(name="demo")
def demo_command() -> None:
    """Load the demo sections and articles (refuses a database that has content)."""
    settings = _settings()
    engine = _engine(settings)
    db.migrate(engine)
    with db.transaction(db.session_factory(engine)) as session:
        if not demo.is_empty(session):
            raise click.ClickException("the database already has content; demo not loaded")
        count = demo.load(session, utcnow(), settings)
    click.echo(f"loaded {count} demo articles; the scheduler renders their feeds")


@main.command()
def render() -> None:
    """Render every feed once now (what the scheduler's sweep does)."""
    settings = _settings()
    engine = _engine(settings)
    renderer = Renderer(db.session_factory(engine), settings)
    try:
        report = renderer.sweep()
    finally:
        if renderer.token is not None:
            renderer.resign()  # hand the lease straight back: a scheduler may be waiting
    if report is None:
        raise click.ClickException("another scheduler holds the lease; try again later")
    click.echo(
        f"{len(report.rendered)} changed, {len(report.unchanged)} unchanged, "
        f"{len(report.failed)} failed, {len(report.removed)} removed"
    )
    if report.failed:
        sys.exit(1)


@main.command(name="rebuild")
@click.option("--workers", type=int, default=None, help="processes (default: every core)")
@click.option("--archives", is_flag=True, help="also render every sealed archive page again")
def rebuild_command(workers: int | None, archives: bool) -> None:
    """Render every feed again, over all cores, while no scheduler renders.

    Current documents and open archive pages are rendered again; sealed pages only when
    missing, or all of them with --archives.
    """
    import time

    from feedsvc.rebuild import rebuild
    from feedsvc.regenerate import LeadershipLost

    settings = _settings()
    db.migrate(_engine(settings))
    started = time.perf_counter()
    with click.progressbar(length=0, label="feeds", show_pos=True) as bar:

        def progress(_outcome: str, total: int) -> None:
            bar.length = total
            bar.update(1)

        try:
            counts = rebuild(settings, workers, progress, every_page=archives)
        except LeadershipLost as exc:
            raise click.ClickException(str(exc)) from exc
    elapsed = time.perf_counter() - started
    total = sum(counts.values())
    click.echo(
        f"{total} feeds in {elapsed:.1f}s ({total / elapsed:.0f}/s): "
        + ", ".join(f"{n} {outcome}" for outcome, n in counts.items())
    )
    if counts["failed"]:
        sys.exit(1)


main.add_command(partner)


@main.group()
def token() -> None:
    """API tokens."""


@token.command(name="create")
@click.option("--role", type=click.Choice(tokens.ROLES), required=True)
@click.option("--label", default="", help="who or what the token is for")
def token_create(role: str, label: str) -> None:
    """Create a token and print it alone on stdout (it is stored only hashed)."""
    click.echo(_run(lambda s, now: tokens.create_token(s, role, now, label)))


@main.group()
def user() -> None:
    """Users of the editors' desk."""


@user.command(name="create")
@click.argument("username")
@click.option("--role", type=click.Choice(users.ROLES), required=True)
@click.option(
    "--password-stdin", is_flag=True, help="read the password from the first line of stdin"
)
def user_create(username: str, role: str, password_stdin: bool) -> None:
    """Create a desk user; the password is asked for (or read from stdin), never an argument."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    _run(lambda s, now: users.create_user(s, username, password, role, now))
    click.echo(f"created {role} {username}")


@main.command(name="import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "json", "feed", "text"]),
    default="auto",
    show_default=True,
    help="json: the portal's JSON; feed: RSS 2.0 or Atom; text: a plain-text page",
)
@click.option("--publish", is_flag=True, help="publish the articles that have no warnings")
def import_command(file: str, fmt: str, publish: bool) -> None:
    """Import articles from FILE in one transaction, cleaning them and printing warnings.

    Articles with warnings (suspected mojibake, private-use characters) are stored as
    drafts; without --publish every article is a draft.
    """
    from zoneinfo import ZoneInfo

    from feedsvc.ingest import IngestError, read_document
    from feedsvc.ingest.importer import import_document

    settings = _settings()
    try:
        with click.open_file(file, "rb") as stream:
            data = stream.read()
        document = read_document(data, fmt, ZoneInfo(settings.timezone))
    except OSError as exc:
        raise click.ClickException(f"cannot read {file}: {exc.strerror or exc}") from exc
    except IngestError as exc:
        raise click.ClickException(f"{file}: {exc}") from exc
    engine = _engine(settings)
    try:
        db.migrate(engine)
        with db.transaction(db.session_factory(engine)) as session:
            report = import_document(session, document, utcnow(), settings, publish=publish)
    except FeedsvcError as exc:
        raise click.ClickException(f"{file}: nothing imported: {exc.detail}") from exc
    for item in report.articles:
        click.echo(f"{item.id}\t{item.slug}\t{item.status}\t{item.title}")
        for warning in item.warnings:
            click.echo(f"  warning {warning.describe()}")
    warned = sum(1 for item in report.articles if item.warnings)
    click.echo(
        f"imported {len(report.articles)} articles ({warned} with warnings); "
        f"removed {report.pinyin_removed} pinyin annotations"
    )
