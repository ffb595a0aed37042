"""Settings of the PATTSync companion: read from .env or the environment, every value checked,
all problems reported together."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

COMPANION_VERSION = "1.0.0"
APP_DIR = Path(__file__).resolve().parent
WATCHED_FILE_NAME = "PATTSync.lua"


@dataclass(frozen=True)
class Config:
    """Validated settings (see .env.example)."""

    api_url: str
    api_key: str
    saved_variables_path: Path
    poll_interval: float = 30.0
    debounce_seconds: float = 5.0
    state_file: Path = APP_DIR / "patt_sync_state.json"
    log_file: Path = APP_DIR / "patt_sync_watcher.log"
    upload_timeout: float = 30.0
    debug: bool = False

    @property
    def watched_file(self) -> Path:
        return self.saved_variables_path / WATCHED_FILE_NAME

    @property
    def masked_key(self) -> str:
        """The key as it may appear in logs: only its last 4 characters, and only when that
        leaves most of it hidden."""
        return "…" + self.api_key[-4:] if len(self.api_key) >= 16 else "…"


class ConfigError(Exception):
    """The configuration has problems; `problems` lists every one of them."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


CONFIG_KEYS = (
    "PATT_API_URL",
    "PATT_API_KEY",
    "WOW_SAVED_VARIABLES_PATH",
    "POLL_INTERVAL",
    "DEBOUNCE_SECONDS",
    "STATE_FILE",
    "LOG_FILE",
    "UPLOAD_TIMEOUT",
    "DEBUG",
)
LOCAL_HOSTS = ("localhost", "127.0.0.1")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off", "")


def read_settings(
    env_file: Path | None, app_dir: Path, environ: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """Raw settings from the .env file (`env_file`, else `.env` in the app folder) with
    environment variables taking precedence, plus any problem finding the file."""
    path = env_file if env_file is not None else app_dir / ".env"
    values: dict[str, str] = {}
    problems: list[str] = []
    if path.is_file():
        values.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    elif env_file is not None:
        problems.append(f"the settings file given with --env does not exist: {env_file}")
    for key in CONFIG_KEYS:
        if key in environ:
            values[key] = environ[key]
    return values, problems


def _number(
    values: Mapping[str, str],
    key: str,
    default: float,
    low: float,
    high: float,
    problems: list[str],
) -> float:
    raw = values.get(key, "").strip()
    if not raw:
        return default
    try:
        number = float(raw)
    except ValueError:
        problems.append(f"{key} must be a number of seconds, not {raw!r}")
        return default
    if not math.isfinite(number) or not low <= number <= high:
        problems.append(f"{key} must be between {low:g} and {high:g} seconds (got {raw})")
        return default
    return number


def _app_path(values: Mapping[str, str], key: str, default_name: str, app_dir: Path) -> Path:
    raw = values.get(key, "").strip().strip('"')
    path = Path(raw).expanduser() if raw else Path(default_name)
    return path if path.is_absolute() else app_dir / path


def build_config(
    values: Mapping[str, str], app_dir: Path, problems: list[str] | None = None
) -> Config:
    """Checks every setting and raises ConfigError listing all problems at once."""
    problems = list(problems or [])

    api_url = values.get("PATT_API_URL", "").strip().rstrip("/")
    if not api_url:
        problems.append("PATT_API_URL is missing (e.g. https://guild.example.org/api)")
    else:
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(f"PATT_API_URL is not a web address: {api_url!r}")
        elif parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
            # The API key travels in a header: only a local test server may go without TLS.
            problems.append("PATT_API_URL must start with https:// (http only for localhost)")

    api_key = values.get("PATT_API_KEY", "").strip()
    if not api_key:
        problems.append("PATT_API_KEY is missing (ask an officer for the upload key)")

    folder_raw = values.get("WOW_SAVED_VARIABLES_PATH", "").strip().strip('"')
    folder = Path(folder_raw).expanduser()
    if not folder_raw:
        problems.append(
            "WOW_SAVED_VARIABLES_PATH is missing (…\\WTF\\Account\\<ACCOUNT>\\SavedVariables)"
        )
    elif not folder.is_dir():
        problems.append(f"WOW_SAVED_VARIABLES_PATH is not an existing folder: {folder_raw}")

    poll_interval = _number(values, "POLL_INTERVAL", 30, 5, 3600, problems)
    debounce = _number(values, "DEBOUNCE_SECONDS", 5, 0, 300, problems)
    timeout = _number(values, "UPLOAD_TIMEOUT", 30, 1, 300, problems)

    debug_raw = values.get("DEBUG", "").strip().lower()
    if debug_raw not in TRUE_WORDS + FALSE_WORDS:
        problems.append(f"DEBUG must be true or false, not {values.get('DEBUG')!r}")

    state_file = _app_path(values, "STATE_FILE", "patt_sync_state.json", app_dir)
    log_file = _app_path(values, "LOG_FILE", "patt_sync_watcher.log", app_dir)
    for key, path in (("STATE_FILE", state_file), ("LOG_FILE", log_file)):
        if not path.parent.is_dir():
            problems.append(f"{key}: the folder {path.parent} does not exist")

    if problems:
        raise ConfigError(problems)
    return Config(
        api_url=api_url,
        api_key=api_key,
        saved_variables_path=folder,
        poll_interval=poll_interval,
        debounce_seconds=debounce,
        state_file=state_file,
        log_file=log_file,
        upload_timeout=timeout,
        debug=debug_raw in TRUE_WORDS,
    )


def load_config(env_file: Path | None, app_dir: Path, environ: Mapping[str, str]) -> Config:
    """Settings from the .env file and the environment, validated."""
    values, problems = read_settings(env_file, app_dir, environ)
    return build_config(values, app_dir, problems)
