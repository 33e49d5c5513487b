"""The `feedsvc` console script: serve, scheduler, demo, migrate, render, token."""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

import click

from feedsvc import db, demo, tokens
from feedsvc.config import ConfigError, Settings
from feedsvc.jobs import Renderer, build_scheduler, utcnow

log = logging.getLogger("feedsvc")


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
    engine = db.make_engine(settings.database_url)
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


@main.command()
def scheduler() -> None:
    """Run the scheduler alone (production: one or more beside the web workers)."""
    settings = _settings()
    engine = db.make_engine(settings.database_url)
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
    db.migrate(db.make_engine(settings.database_url))
    click.echo("database schema is up to date")


@main.command(name="demo")
def demo_command() -> None:
    """Load the demo sections and articles (refuses a database that has content)."""
    settings = _settings()
    engine = db.make_engine(settings.database_url)
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
    engine = db.make_engine(settings.database_url)
    report = Renderer(db.session_factory(engine), settings).sweep()
    if report is None:
        raise click.ClickException("another scheduler holds the lease; try again later")
    click.echo(
        f"{len(report.rendered)} changed, {len(report.unchanged)} unchanged, "
        f"{len(report.failed)} failed, {len(report.removed)} removed"
    )
    if report.failed:
        sys.exit(1)


@main.group()
def token() -> None:
    """API tokens."""


@token.command(name="create")
@click.option("--role", type=click.Choice(tokens.ROLES), required=True)
@click.option("--label", default="", help="who or what the token is for")
def token_create(role: str, label: str) -> None:
    """Create a token and print it alone on stdout (it is stored only hashed)."""
    settings = _settings()
    engine = db.make_engine(settings.database_url)
    db.migrate(engine)
    with db.transaction(db.session_factory(engine)) as session:
        value = tokens.create_token(session, role, utcnow(), label)
    click.echo(value)
