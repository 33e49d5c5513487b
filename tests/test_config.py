"""Settings load in order, fail clearly, and config/default.toml documents every one."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from feedsvc.config import ConfigError, Settings

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TOML = ROOT / "config" / "default.toml"


def test_default_toml_lists_every_setting_with_its_default() -> None:
    documented = tomllib.loads(DEFAULT_TOML.read_text("utf-8"))
    defaults = {f.name: f.default for f in dataclasses.fields(Settings)}
    assert documented == defaults


def test_every_setting_in_default_toml_has_a_comment() -> None:
    """Each setting, or the group of settings it stands in, has a comment right above."""
    lines = DEFAULT_TOML.read_text("utf-8").splitlines()
    setting = re.compile(r"^[a-z_]+ = ")
    for number, line in enumerate(lines):
        if setting.match(line):
            above = number - 1
            while above >= 0 and setting.match(lines[above]):
                above -= 1
            assert lines[above].startswith("#"), f"{line.split()[0]} has no comment above it"


def test_every_setting_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    for field in dataclasses.fields(Settings):
        assert f"FEEDSVC_{field.name.upper()}" in readme, f"README lacks {field.name}"


def test_environment_overrides_file_and_file_overrides_defaults(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text('site_title = "從文件"\nfeed_items = 20\n', "utf-8")
    settings = Settings.load(
        environ={"FEEDSVC_CONFIG": str(config), "FEEDSVC_FEED_ITEMS": "30"},
    )
    assert settings.site_title == "從文件"
    assert settings.feed_items == 30
    assert settings.timezone == "Asia/Shanghai"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"FEEDSVC_FEED_ITEMS": "many"}, "FEEDSVC_FEED_ITEMS: expected a number"),
        ({"FEEDSVC_LOAD_DEMO_ON_EMPTY": "perhaps"}, "expected true or false"),
        ({"FEEDSVC_TIMEZONE": "Mars/Olympus"}, "timezone: unknown zone"),
        ({"FEEDSVC_FEED_ITEMS": "0"}, "feed_items: must be at least 1"),
        ({"FEEDSVC_LEASE_SECONDS": "3"}, "lease_seconds: must be longer"),
        ({"FEEDSVC_ARTICLE_URL": "https://x.example/a"}, "article_url: must contain {slug}"),
        ({"FEEDSVC_CONFIG": "/nonexistent/feedsvc.toml"}, "cannot read config file"),
        ({"FEEDSVC_SIGNIN_RATE_LIMIT": "often"}, "signin_rate_limit: not a rate limit"),
    ],
)
def test_bad_settings_fail_with_a_clear_message(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings.load(environ=environ)


def test_unknown_setting_in_a_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "typo.toml"
    config.write_text("feed_itmes = 10\n", "utf-8")
    with pytest.raises(ConfigError, match="unknown setting"):
        Settings.load(environ={"FEEDSVC_CONFIG": str(config)})


def test_base_url_follows_the_serving_address_only_when_unset() -> None:
    assert Settings().serving_at("0.0.0.0", 9000).public_base == "http://0.0.0.0:9000"
    configured = Settings(base_url="https://feeds.example.com/")
    assert configured.serving_at("0.0.0.0", 9000).public_base == "https://feeds.example.com"
