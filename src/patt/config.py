"""Settings from the environment / `.env` (one pydantic-settings class) and production checks.

Every chapter's settings live here (00 §7, 60 §8, 70 §1, 80 §1). `sv_common` never imports this
module; values are passed into its services.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"generate-a-strong-random-key", "changeme"}


class ConfigError(RuntimeError):
    """Configuration is unsafe or incomplete (refuse to start)."""


class Settings(BaseSettings):
    """All platform settings; names are the environment variables (case-insensitive)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # core (00 §7)
    database_url: str | None = None
    patt_data_dir: Path = Path("./.patt-data")
    app_env: Literal["development", "testing", "production"] = "development"
    app_host: str = "127.0.0.1"
    app_port: int = 8100
    public_base_url: str = "http://localhost:8100"
    jwt_secret_key: str | None = None
    jwt_algorithm: Literal["HS256"] = "HS256"
    jwt_expire_minutes: int = Field(default=1440, ge=1)
    session_days: int = Field(default=30, ge=1)
    cookie_secure: bool | None = None
    https_only: bool | None = None
    hsts_seconds: int = Field(default=31_536_000, ge=0)
    admin_rank_level: int = Field(default=4, ge=1)
    invite_expire_hours: int = Field(default=72, ge=1)
    campaign_check_interval_seconds: int = Field(default=60, ge=1)
    campaign_checker_enabled: bool = True
    trusted_proxies: str = "127.0.0.1"
    landing_image_url: str = "/static/img/landing.svg"
    demo_mode: bool = False

    # operations: logs, metrics (docs/CONFIGURATION.md "Running several processes")
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = True
    metrics_enabled: bool = False
    metrics_token: str = ""

    # guild identity
    patt_guild_name: str = "Pull All The Things"
    patt_guild_realm_slug: str = "senjin"
    patt_guild_name_slug: str = "pull-all-the-things"
    patt_guild_realm_name: str = "Sen'jin"
    patt_game_rank_names: str = "Guild Leader,Officer,Veteran,Member,Initiate"

    # Discord (70 §1)
    discord_bot_token: str = ""
    discord_guild_id: str = ""
    patt_audit_channel_id: str = ""
    discord_sync_interval_minutes: int = Field(default=15, ge=1)
    discord_backend: Literal["auto", "fake", "null"] = "auto"
    discord_fake_file: str = ""
    discord_fake_outbox: str = ""

    # Blizzard and scheduler (80 §1)
    blizzard_client_id: str = ""
    blizzard_client_secret: str = ""
    blizzard_region: str = "us"
    blizzard_locale: str = "en_US"
    blizzard_api_base_url: str = ""
    blizzard_oauth_url: str = "https://oauth.battle.net/token"
    blizzard_max_concurrency: int = Field(default=16, ge=1, le=100)
    blizzard_rate_per_second: float = Field(default=90, gt=0, le=100)
    blizzard_hourly_budget: int = Field(default=35000, ge=1, le=36000)
    blizzard_sync_hours: str = "1,7,13,19"
    blizzard_sync_deadline_seconds: int = Field(default=1200, ge=10)
    blizzard_min_roster_ratio: float = Field(default=0.5, ge=0, le=1)
    patt_api_key: str = ""
    addon_creates_characters: bool = True
    scheduler_enabled: bool = True
    google_apps_script_url: str = ""

    # identity engine (85 §1)
    fuzzy_auto_link: float = Field(default=0.85, gt=0, le=1)
    fuzzy_suggest: float = Field(default=0.70, gt=0, le=1)
    stale_character_days: int = Field(default=30, ge=1)
    rank_change_expiry_days: int = Field(default=7, ge=1)

    # guild tools and Raid-Helper (60 §8)
    raid_default_title: str = "Heroic Raid"
    raid_default_time: str = "21:00"
    raid_default_duration: int = 120
    raid_default_template: str = "wowretail2"
    guild_timezone: str = "America/New_York"
    raid_schedule_text: str = (
        "Raids are Thursday, Friday and Saturday at 9 pm Eastern for two hours."
    )
    raid_leader_discord_id: str = ""
    discord_channel_raid_signup: str = ""
    discord_channel_event_signup: str = ""
    discord_channel_voice: str = ""
    discord_channel_announcement: str = ""
    discord_channel_pug: str = ""
    discord_channel_notification: str = ""
    raid_helper_api_key: str = ""
    raid_helper_base_url: str = "https://raid-helper.dev/api/v2"

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("blizzard_sync_hours")
    @classmethod
    def _sync_hours(cls, value: str) -> str:
        hours = [part.strip() for part in value.split(",") if part.strip()]
        if not hours or not all(h.isdigit() and 0 <= int(h) <= 23 for h in hours):
            raise ValueError("must be comma-separated UTC hours 0–23, e.g. 1,7,13,19")
        return ",".join(str(int(h)) for h in hours)

    @property
    def sync_hours(self) -> list[int]:
        """BLIZZARD_SYNC_HOURS as sorted distinct UTC hours."""
        return sorted({int(h) for h in self.blizzard_sync_hours.split(",")})

    @property
    def game_rank_names(self) -> list[str]:
        """PATT_GAME_RANK_NAMES as a list (index = in-game rank)."""
        return [n.strip() for n in self.patt_game_rank_names.split(",") if n.strip()]

    @property
    def blizzard_configured(self) -> bool:
        """Both Blizzard credentials are set."""
        return bool(self.blizzard_client_id.strip() and self.blizzard_client_secret.strip())

    @property
    def is_production(self) -> bool:
        """True when running with APP_ENV=production."""
        return self.app_env == "production"

    @property
    def secure_cookies(self) -> bool:
        """Cookie Secure flag: explicit setting, else on in production."""
        return self.cookie_secure if self.cookie_secure is not None else self.is_production

    @property
    def site_is_https_only(self) -> bool:
        """HTTPS_ONLY: explicit setting, else on in production (which requires an https URL)."""
        return self.https_only if self.https_only is not None else self.is_production

    @property
    def trusted_proxy_list(self) -> list[str]:
        """Peers whose X-Forwarded-For header is honoured."""
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    @property
    def base_url(self) -> str:
        """PUBLIC_BASE_URL without a trailing slash."""
        return self.public_base_url.rstrip("/")


def _is_placeholder(value: str) -> bool:
    lowered = value.strip().lower()
    return lowered in PLACEHOLDER_SECRETS or lowered.startswith(("test-", "change"))


def _is_https_url(value: str) -> bool:
    parts = urlsplit(value.strip())
    return parts.scheme == "https" and bool(parts.hostname)


def _trusts_everyone(entry: str) -> bool:
    """A TRUSTED_PROXIES entry that matches any address (`*`, `0.0.0.0/0`, `::/0`)."""
    if entry == "*":
        return True
    try:
        return ipaddress.ip_network(entry, strict=False).prefixlen == 0
    except ValueError:
        return False


def production_problems(settings: Settings) -> list[str]:
    """What makes this configuration unsafe for production (20 §8), one sentence each."""
    problems: list[str] = []
    secret = settings.jwt_secret_key or ""
    if not secret:
        problems.append("JWT_SECRET_KEY is required in production.")
    elif len(secret.encode()) < 32 or _is_placeholder(secret):
        problems.append("JWT_SECRET_KEY must be at least 32 bytes and not a placeholder.")
    url = settings.database_url or ""
    if "CHANGEME" in url or "PASSWORD" in url:
        problems.append("DATABASE_URL still contains a placeholder password.")
    if settings.patt_api_key and (
        len(settings.patt_api_key) < 32 or _is_placeholder(settings.patt_api_key)
    ):
        problems.append("PATT_API_KEY must be at least 32 characters and not a placeholder.")
    if not _is_https_url(settings.public_base_url):
        problems.append("PUBLIC_BASE_URL must be an https:// URL in production.")
    if not settings.secure_cookies:
        problems.append("COOKIE_SECURE must be true in production.")
    if settings.discord_backend == "fake":
        problems.append("DISCORD_BACKEND=fake is not allowed in production.")
    if settings.demo_mode:
        # The demo guild has accounts whose passwords are printed, and fake outside services.
        problems.append("DEMO_MODE is not allowed in production.")
    if any(_trusts_everyone(entry) for entry in settings.trusted_proxy_list):
        # Any client could then forge X-Forwarded-For (throttles) and X-Forwarded-Proto.
        problems.append("TRUSTED_PROXIES must list your proxies, not every address.")
    # Services that receive a secret (OAuth client secret, API key) only over TLS.
    for name, value in (
        ("BLIZZARD_API_BASE_URL", settings.blizzard_api_base_url),
        ("BLIZZARD_OAUTH_URL", settings.blizzard_oauth_url),
        ("RAID_HELPER_BASE_URL", settings.raid_helper_base_url),
    ):
        if value and not _is_https_url(value):
            problems.append(f"{name} must be an https:// URL in production.")
    return problems


def check_production(settings: Settings) -> None:
    """Refuse unsafe production configuration (20 §8); raises ConfigError listing every problem."""
    if not settings.is_production:
        return
    problems = production_problems(settings)
    if problems:
        raise ConfigError(" ".join(problems))


def describe_settings_error(error: ValidationError) -> str:
    """A settings error in plain words naming each variable (never echoing its value)."""
    parts = []
    for item in error.errors():
        name = "_".join(str(part) for part in item.get("loc", ())).upper() or "settings"
        parts.append(f"{name}: {item.get('msg', 'invalid value')}")
    return "Bad configuration: " + "; ".join(parts) + "."


def resolve_jwt_secret(settings: Settings) -> str:
    """The signing secret: configured, else (development/testing) a random one kept in the data dir."""
    if settings.jwt_secret_key:
        return settings.jwt_secret_key
    if settings.is_production:
        raise ConfigError("JWT_SECRET_KEY is required in production.")
    data_dir = settings.patt_data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "jwt-secret"
    if path.exists():
        value = path.read_text().strip()
        if len(value) >= 32:
            return value
    value = secrets.token_urlsafe(64)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


@lru_cache
def get_settings() -> Settings:
    """Process-wide settings (tests build their own Settings and pass it to create_app)."""
    return Settings()
