#!/usr/bin/env bash
# Runs the platform: installs it into .venv on first use, then `patt serve` (embedded PostgreSQL,
# migrations, seeded ranks; prints the URL and the one-time setup link). Extra arguments go to
# `patt serve` (e.g. ./run.sh --demo).
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/bootstrap.sh
exec .venv/bin/patt serve "$@"
