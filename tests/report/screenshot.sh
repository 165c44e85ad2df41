#!/usr/bin/env bash
# Screenshot a report page with headless Chromium (no network), e.g. for the README:
#   tests/report/screenshot.sh demo-out/report/report.html docs/report.png [HEIGHT]
set -euo pipefail
html="$(realpath "$1")"
png="$2"
height="${3:-4000}"
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
mkdir -p "$(dirname "$png")"
/usr/bin/chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync --hide-scrollbars \
  --user-data-dir="$profile" --window-size=1280,"$height" --screenshot="$(realpath -m "$png")" \
  "file://$html" 2>/dev/null
echo "$png"
