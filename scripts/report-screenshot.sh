#!/usr/bin/env bash
# The first screen of a report, as a PNG: the report of the given journals is rendered by the suite into
# a temporary folder, photographed by headless Chromium at 1280 x 900, and the folder removed.
#   scripts/report-screenshot.sh OUT.png JOURNAL...
# The README's picture: scripts/report-screenshot.sh docs/_static/report.png results/reference/2-core/20261206T045438Z-473299.jsonl
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: scripts/report-screenshot.sh OUT.png JOURNAL..." >&2; exit 2; }
out=$1
shift
case $out in
*.png) ;;
*) echo "report-screenshot.sh: $out: the picture is a PNG (name it .png)" >&2; exit 2 ;;
esac
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "report-screenshot.sh: chromium is missing: apt-get install chromium" >&2; exit 2; }
python=${PYTHON:-python3}
work=$(mktemp -d /tmp/bench-shot-XXXXXX)
trap 'rm -rf "$work"' EXIT
"$python" -m bench report "$@" -o "$work/report" >"$work/report.log" 2>&1 || { cat "$work/report.log" >&2; exit 1; }
# Chromium's own profile and crash folders go to the temporary folder too, and leave with it
HOME=$work "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$work/profile" \
    --window-size=1280,900 --screenshot="$work/shot.png" "file://$work/report/index.html" >/dev/null 2>&1
[ -s "$work/shot.png" ] || { echo "report-screenshot.sh: chromium made no picture" >&2; exit 1; }
mv "$work/shot.png" "$out"
echo "$out"
