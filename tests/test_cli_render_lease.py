"""`feedsvc render` run twice in a row: the second run must not find the lease taken."""

from __future__ import annotations

from click.testing import CliRunner

from feedsvc.cli import main


def test_render_twice_in_a_row(database_url: str) -> None:
    runner = CliRunner()
    env = {"FEEDSVC_DATABASE_URL": database_url, "FEEDSVC_LOAD_DEMO_ON_EMPTY": "false"}
    assert runner.invoke(main, ["migrate"], env=env).exit_code == 0
    first = runner.invoke(main, ["render"], env=env)
    assert first.exit_code == 0, first.output
    second = runner.invoke(main, ["render"], env=env)
    assert second.exit_code == 0, second.output
