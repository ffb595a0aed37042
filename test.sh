#!/usr/bin/env bash
# Runs the whole test suite: installs the project and dev tools into .venv, installs Debian's
# chromium (browser tests) and wrk (benchmark smoke test) when missing, then lint (ruff), types
# (mypy), and pytest (unit, integration against a real PostgreSQL, and headless-browser tests).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/bootstrap.sh dev

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "Installing chromium for the browser tests…" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "warning: could not install chromium" >&2
  fi
fi
if [ ! -x /usr/bin/chromium ] && [ "${CI:-}" = "true" ]; then
  echo "error: /usr/bin/chromium is required for the browser tests in CI" >&2
  exit 1
fi
# wrk drives the load of `python -m bench`; its smoke test runs in CI and skips elsewhere
# when wrk is missing.
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "Installing wrk for the benchmark smoke test…" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null) \
      || echo "warning: could not install wrk" >&2
  fi
fi
if ! command -v wrk >/dev/null && [ "${CI:-}" = "true" ]; then
  echo "error: wrk is required for the benchmark smoke test in CI" >&2
  exit 1
fi

echo "== ruff" >&2
.venv/bin/ruff check src tests bench scripts companion_app
.venv/bin/ruff format --check src tests bench scripts companion_app
echo "== mypy" >&2
.venv/bin/mypy src
.venv/bin/mypy companion_app
echo "== import cycles" >&2
.venv/bin/python scripts/check_import_cycles.py
echo "== pytest" >&2
set +e
.venv/bin/pytest -p no:cacheprovider "$@"
status=$?
set -e
if [ "$status" = "5" ]; then
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit "$status"
