#!/usr/bin/env bash
# report.html at scale, without any API: builds the report of a synthetic run of ROWS rows with
# PHOTOS photos each (examples/report_size.rs), then prints
#  - its size (target: at most 15 MB at 100,000 rows × 2 photos),
#  - the writer's time and peak memory, at ROWS and at a tenth of them (flat = bounded),
#  - where Chromium is installed: the time headless Chromium takes to open and render it
#    (a screenshot), beside its time for an empty page, and the time to open it with a search by
#    nomorAju (report.html#q=…), which must show the row with its photos' sha256 (checked in the
#    DOM Chromium dumps).
# Exits non-zero when the size is over 15 MB, the render takes 10 s or more, or the search fails.
#
#   bash scripts/report-size.sh [ROWS] [PHOTOS] [SECONDS_PER_ROW]
#   KEEP=dir bash scripts/report-size.sh        # keep report.html and the screenshots in dir
#
# SECONDS_PER_ROW spaces the rows' timestamps: 0.00042 (default) is the issue's run against the
# sandbox (100,000 rows in 42 s); 0.2 is a night at 5 requests a second.
set -euo pipefail
cd "$(dirname "$0")/.."

rows=${1:-100000}
photos=${2:-2}
per_row=${3:-0.00042}
limit=15000000

[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }

echo "==> building the report_size example (release)"
cargo build --release --locked --quiet --example report_size
bin=target/release/examples/report_size

if [ -n "${KEEP:-}" ]; then
    mkdir -p "$KEEP"
    work=$(cd "$KEEP" && pwd)
else
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
fi
page="$work/report.html"

# measure ROWS OUT: runs the writer, sets $size $seconds $rss_kb and the search target.
measure() {
    /usr/bin/time -f "%M" -o "$work/rss" "$bin" "$2" "$1" "$photos" "$per_row" >"$work/out"
    rss_kb=$(tail -n 1 "$work/rss")
    size=$(sed -n 's/^size=\([0-9]*\) .*/\1/p' "$work/out")
    seconds=$(sed -n 's/.* seconds=\([0-9.]*\)$/\1/p' "$work/out")
    aju=$(sed -n 's/^find: nomorAju=\([^ ]*\) .*/\1/p' "$work/out")
    sha=$(sed -n 's/.* sha256=\([0-9a-f]*\)$/\1/p' "$work/out")
}

small=$((rows / 10))
measure "$small" "$work/small.html"
small_rss=$rss_kb
measure "$rows" "$page"
rm -f "$work/small.html"

failed=0
echo
printf 'rows × photos       %s × %s (timestamps %s s apart)\n' "$rows" "$photos" "$per_row"
printf 'report.html         %s bytes (%s MB; target ≤ 15 MB)\n' "$size" "$(awk "BEGIN{printf \"%.2f\", $size/1e6}")"
printf 'bytes per row       %s\n' "$((size / (rows > 0 ? rows : 1)))"
printf 'writer              %s s, peak RSS %s MB (at %s rows: %s MB)\n' "$seconds" \
    "$(awk "BEGIN{printf \"%.1f\", $rss_kb/1024}")" "$small" "$(awk "BEGIN{printf \"%.1f\", $small_rss/1024}")"
[ "$size" -le "$limit" ] || { echo "FAIL: report.html is over 15 MB"; failed=1; }

# shellcheck source=scripts/browser.sh
source scripts/browser.sh
printf 'Chromium            %s\n' "$("$chromium" --version 2>/dev/null | head -n 1)"
render_and_find report "$aju" "$sha" "1 row matches."
rm -f "$work/browser.out" "$work/empty.html" "$work/empty.png" "$work/out" "$work/rss"
if [ -n "${KEEP:-}" ]; then echo "kept in $work: report.html, report.png, search.png"; fi
exit "$failed"
