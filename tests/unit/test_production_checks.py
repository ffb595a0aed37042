"""Refusing to start in production with unsafe settings (20 §8), and the HTTPS-only default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from patt.config import ConfigError, Settings, check_production

GOOD_SECRET = "k" * 48


def production(tmp_path: Path, **overrides: Any) -> Settings:
    """A production configuration that passes every check, with `overrides` applied."""
    values: dict[str, Any] = {
        "app_env": "production",
        "patt_data_dir": tmp_path,
        "jwt_secret_key": GOOD_SECRET,
        "public_base_url": "https://guild.example.org",
        "database_url": "postgresql://patt:s3cret-pw@db/patt",
        "discord_backend": "null",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def refusal(settings: Settings) -> str:
    with pytest.raises(ConfigError) as caught:
        check_production(settings)
    return str(caught.value)


def test_a_safe_production_configuration_starts(tmp_path: Path) -> None:
    settings = production(tmp_path, patt_api_key="a" * 40, trusted_proxies="127.0.0.1,10.0.0.0/8")
    check_production(settings)  # no error
    assert settings.secure_cookies and settings.site_is_https_only


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"jwt_secret_key": None}, "JWT_SECRET_KEY is required"),
        ({"jwt_secret_key": "short-secret"}, "JWT_SECRET_KEY must be at least 32 bytes"),
        ({"jwt_secret_key": "change-this-" + "x" * 40}, "JWT_SECRET_KEY must be"),
        ({"jwt_secret_key": "test-" + "x" * 40}, "JWT_SECRET_KEY must be"),
        ({"database_url": "postgresql://patt:CHANGEME@db/patt"}, "DATABASE_URL"),
        ({"patt_api_key": "too-short"}, "PATT_API_KEY"),
        ({"public_base_url": "http://guild.example.org"}, "PUBLIC_BASE_URL"),
        ({"public_base_url": "https://"}, "PUBLIC_BASE_URL"),
        ({"public_base_url": "guild.example.org"}, "PUBLIC_BASE_URL"),
        ({"cookie_secure": False}, "COOKIE_SECURE"),
        ({"discord_backend": "fake"}, "DISCORD_BACKEND=fake"),
        ({"demo_mode": True}, "DEMO_MODE"),
        ({"trusted_proxies": "*"}, "TRUSTED_PROXIES"),
        ({"trusted_proxies": "127.0.0.1, 0.0.0.0/0"}, "TRUSTED_PROXIES"),
        ({"trusted_proxies": "::/0"}, "TRUSTED_PROXIES"),
        ({"blizzard_api_base_url": "http://blizzard.internal"}, "BLIZZARD_API_BASE_URL"),
        ({"blizzard_oauth_url": "http://oauth.internal/token"}, "BLIZZARD_OAUTH_URL"),
        ({"raid_helper_base_url": "http://raid-helper.internal"}, "RAID_HELPER_BASE_URL"),
    ],
)
def test_each_unsafe_setting_is_refused_by_name(
    tmp_path: Path, overrides: dict[str, Any], named: str
) -> None:
    assert named in refusal(production(tmp_path, **overrides))


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    message = refusal(
        production(
            tmp_path,
            jwt_secret_key="short",
            public_base_url="http://guild.example.org",
            demo_mode=True,
        )
    )
    assert "JWT_SECRET_KEY" in message and "PUBLIC_BASE_URL" in message and "DEMO" in message
    assert "short" not in message  # the secret itself is never repeated


def test_development_is_never_refused(tmp_path: Path) -> None:
    settings = production(
        tmp_path, app_env="development", jwt_secret_key=None, public_base_url="http://x"
    )
    check_production(settings)
    assert not settings.secure_cookies and not settings.site_is_https_only


def test_https_only_and_hsts_can_be_set_explicitly(tmp_path: Path) -> None:
    settings = production(tmp_path, app_env="development", https_only=True, hsts_seconds=600)
    assert settings.site_is_https_only and settings.hsts_seconds == 600
    assert not production(tmp_path, https_only=False).site_is_https_only
    with pytest.raises(ValueError):
        production(tmp_path, hsts_seconds=-1)
