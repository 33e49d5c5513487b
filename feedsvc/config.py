"""Settings: defaults <- a TOML file (FEEDSVC_CONFIG) <- FEEDSVC_* environment <- overrides.

The defaults below are the same values `config/default.toml` documents; a test keeps the
two in step. Nothing is read at import time: call `Settings.load()`.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limits import parse_many

ENV_PREFIX = "FEEDSVC_"


class ConfigError(ValueError):
    """A setting has a value the service cannot run with."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///var/feedsvc.db"
    base_url: str = ""
    site_title: str = "新聞網"
    site_description: str = "新聞網的最新報導"
    site_url: str = "https://news.example.com"
    article_url: str = "https://news.example.com/articles/{slug}"
    id_authority: str = "news.example.com,2026"
    language: str = "zh-Hant"
    timezone: str = "Asia/Shanghai"
    feed_items: int = 50
    archive_page_items: int = 50
    feed_max_bytes: int = 400_000
    item_content_max_bytes: int = 262_144
    tombstone_days: int = 30
    archive_max_age_seconds: int = 86_400
    gzip_level: int = 2
    variants: str = "zh-hans,zh-hant"
    feed_check_seconds: float = 0.5
    feed_cache_bytes: int = 67_108_864
    render_interval_seconds: int = 5
    dirty_poll_seconds: float = 0.25
    feed_max_age_seconds: int = 2
    export_dir: str = ""
    sweep_interval_seconds: int = 300
    lease_seconds: int = 30
    max_request_bytes: int = 1_048_576
    idempotency_key_seconds: int = 86_400
    rate_limit_storage_uri: str = "memory://"
    api_rate_limit: str = "600 per minute"
    signin_rate_limit: str = "10 per minute"
    load_demo_on_empty: bool = True
    log_level: str = "INFO"
    secret_key: str = ""
    session_cookie_secure: bool = True
    traffic_flush_seconds: int = 60

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        config_file = env.get(ENV_PREFIX + "CONFIG")
        if config_file:
            values.update(_read_toml(Path(config_file)))
        for f in dataclasses.fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = _coerce(f.name, raw, f.type)
        values.update(overrides or {})
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"timezone: unknown zone {self.timezone!r}") from exc
        for name in (
            "feed_items",
            "render_interval_seconds",
            "sweep_interval_seconds",
            "traffic_flush_seconds",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be at least 1")
        if not 0 < self.dirty_poll_seconds <= self.render_interval_seconds:
            raise ConfigError("dirty_poll_seconds: must be above 0 and at most render_interval")
        if not 0 <= self.gzip_level <= 3:
            raise ConfigError("gzip_level: must be 0 to 3 (ISA-L levels)")
        if self.feed_check_seconds < 0 or self.feed_max_age_seconds < 0:
            raise ConfigError("feed_check_seconds, feed_max_age_seconds: must not be negative")
        for name in ("api_rate_limit", "signin_rate_limit"):
            try:
                parse_many(getattr(self, name))
            except ValueError as exc:
                raise ConfigError(f"{name}: not a rate limit such as '10 per minute'") from exc
        if self.lease_seconds <= self.render_interval_seconds:
            raise ConfigError("lease_seconds: must be longer than render_interval_seconds")
        unknown_variants = set(self.variant_names) - {"zh-hans", "zh-hant"}
        if unknown_variants:
            raise ConfigError(f"variants: unknown {', '.join(sorted(unknown_variants))}")
        if not self.site_url.startswith(("http://", "https://")):
            raise ConfigError("site_url: must be an absolute http(s) URL")
        if "{slug}" not in self.article_url:
            raise ConfigError("article_url: must contain {slug}")

    @property
    def variant_names(self) -> tuple[str, ...]:
        return tuple(v.strip() for v in self.variants.split(",") if v.strip())

    @property
    def public_base(self) -> str:
        return self.base_url.rstrip("/") or "http://127.0.0.1:8000"

    def serving_at(self, host: str, port: int) -> Settings:
        """These settings for a server on host:port: an unset base_url follows the address."""
        if self.base_url:
            return self
        return dataclasses.replace(self, base_url=f"http://{host}:{port}")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc


def _coerce(name: str, raw: str, type_name: object) -> Any:
    # Field types are strings under `from __future__ import annotations`.
    if type_name == "bool":
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{ENV_PREFIX}{name.upper()}: expected true or false, got {raw!r}")
    if type_name == "float":
        try:
            return float(raw)
        except ValueError as exc:
            raise ConfigError(
                f"{ENV_PREFIX}{name.upper()}: expected a number, got {raw!r}"
            ) from exc
    if type_name == "int":
        try:
            return int(raw)
        except ValueError as exc:
            raise ConfigError(
                f"{ENV_PREFIX}{name.upper()}: expected a number, got {raw!r}"
            ) from exc
    return raw
