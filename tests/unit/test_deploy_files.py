"""The files in deploy/ agree with the code: the env template is refused until its placeholders
are replaced, nginx accepts the largest body the app accepts and proxies to APP_PORT, and the
systemd unit runs `patt serve` with that env file."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest

from patt.config import Settings, production_problems
from patt.core.middleware import BODY_LIMITS, DEFAULT_BODY_LIMIT

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def settings_from(path: Path) -> Settings:
    return Settings(_env_file=path)  # type: ignore[call-arg]


def test_env_template_is_refused_until_filled_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DATABASE_URL", "JWT_SECRET_KEY", "APP_ENV", "PUBLIC_BASE_URL", "COOKIE_SECURE"):
        monkeypatch.delenv(name, raising=False)
    template = (DEPLOY / "patt.env.example").read_text()
    problems = production_problems(settings_from(DEPLOY / "patt.env.example"))
    assert any(p.startswith("JWT_SECRET_KEY") for p in problems)
    assert any(p.startswith("DATABASE_URL") for p in problems)

    filled = template.replace("patt:CHANGEME@", f"patt:{secrets.token_urlsafe(32)}@").replace(
        "JWT_SECRET_KEY=CHANGEME", f"JWT_SECRET_KEY={secrets.token_urlsafe(48)}"
    )
    (tmp_path / "patt.env").write_text(filled)
    settings = settings_from(tmp_path / "patt.env")
    assert production_problems(settings) == []
    assert settings.is_production and settings.app_port == 8100


def megabytes(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmM]?)", value).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1, "k": 1024, "m": 1024 * 1024}[unit.lower()]


def test_nginx_accepts_every_body_the_app_accepts_and_proxies_to_the_app_port() -> None:
    site = (DEPLOY / "nginx" / "patt.conf").read_text()
    limit = re.search(r"client_max_body_size\s+(\w+);", site)
    assert limit and megabytes(limit.group(1)) >= max([DEFAULT_BODY_LIMIT, *BODY_LIMITS.values()])
    assert "proxy_pass http://127.0.0.1:8100;" in site
    assert "X-Forwarded-Proto $scheme" in site and "Strict-Transport-Security" in site
    assert "alias /opt/patt/static/;" in site


def test_systemd_unit_runs_patt_serve_with_the_env_file() -> None:
    unit = (DEPLOY / "systemd" / "patt.service").read_text()
    assert "ExecStart=/opt/patt/venv/bin/patt serve" in unit
    assert "EnvironmentFile=/etc/patt/patt.env" in unit
    backup = (DEPLOY / "systemd" / "patt-backup.service").read_text()
    assert "ExecStart=/opt/patt/venv/bin/patt backup" in backup
