#!/usr/bin/env bash
# Screenshots of the Temporal UI of a running `npm run demo` (Debian's chromium, headless), for the README.
set -euo pipefail
ui=${TEMPORAL_UI:-http://127.0.0.1:8233}
out=${1:-docs/images}
lead=${2:-}
shot() { # url file height
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$(mktemp -d)" --window-size="1600,$3" \
    --virtual-time-budget=15000 --screenshot="$2" "$1" >/dev/null 2>&1
}
q=$(python3 -c 'import urllib.parse;print(urllib.parse.quote("PartnerId=\"acme\""))')
shot "$ui/namespaces/default/workflows?query=$q" "$out/temporal-ui-leads.png" 900
if [ -n "$lead" ]; then shot "$ui/namespaces/default/workflows/lead-$lead" "$out/temporal-ui-lead.png" 1100; fi
echo "written to $out"
