#!/usr/bin/env bash
# Heavy generated-request run: schemathesis (from PyPI, in a virtualenv in the project's cache dir, never the
# system site-packages) against a real stack, driven by bench/lib/ingest-schemathesis.ts.
# Usage: scripts/schemathesis.sh [--max-examples N] [--seed N] [--min-requests N]
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=4.32.5
CACHE="${LEADROUTER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/leadrouter}"
VENV="$CACHE/schemathesis-$VERSION"
if ! "$VENV/bin/st" --version >/dev/null 2>&1; then
  echo "[schemathesis] installing schemathesis==$VERSION into $VENV" >&2
  rm -rf "$VENV"
  mkdir -p "$CACHE"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "schemathesis==$VERSION" || { rm -rf "$VENV"; exit 1; }
fi
exec npx tsx bench/lib/ingest-schemathesis.ts --st "$VENV/bin/st" "$@"
