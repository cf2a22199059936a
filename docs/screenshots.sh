#!/usr/bin/env bash
# Screenshots of the built site as a reader sees it: four pages at a laptop and a phone width, taken
# with headless Chromium (Debian's `chromium` package). `make screenshots` builds the site first.
#   bash docs/screenshots.sh [SITE_DIR] [OUT_DIR]
set -euo pipefail
site=$(realpath "${1:-docs/_build/html}")
out=${2:-docs/_build/screenshots}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
  echo "No Chromium found: install Debian's chromium package (apt-get install chromium)." >&2
  exit 1
fi
mkdir -p "$out"
# the landing page, one report, the findings and one API page
pages=(index.html reports/fig6.html findings.html api/generated/dynamic_graphs.modularity_curve.html)
# laptop: 1366 px wide; phone: 390 px (the layout switches to one column below 960 px)
sizes=(laptop:1366,2200 phone:390,2400)
for page in "${pages[@]}"; do
  if [ ! -f "$site/$page" ]; then echo "not built: $site/$page (run make docs)" >&2; exit 1; fi
  for size in "${sizes[@]}"; do
    name="$(echo "${page%.html}" | tr '/' '_')-${size%%:*}.png"
    "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --virtual-time-budget=4000 \
      --window-size="${size#*:}" --screenshot="$out/$name" "file://$site/$page" >/dev/null 2>&1
    echo "$out/$name"
  done
done
