#!/usr/bin/env bash
# Creates .venv and installs the project into it (with dev tools when asked); re-installs only
# when pyproject.toml changed. Used by ./run.sh and ./test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "Creating virtual environment in .venv…" >&2
  "$python" -m venv .venv
fi
stamp=".venv/.installed${extras:+-$extras}"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "Installing the platform${extras:+ with $extras tools} (first run takes a minute)…" >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras:+[$extras]}" 2>&1 \
    | grep -v "is ignored: it is neither a file nor a directory" >&2 || true
  .venv/bin/python -c "import patt, fastapi, sqlalchemy, asyncpg" \
    || { echo "Installation failed" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
