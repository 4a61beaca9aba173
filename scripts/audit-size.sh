#!/usr/bin/env bash
# audit.html at scale, without any API or ledger: builds the audit.html of a synthetic month of
# DOCUMENTS documents (examples/audit_size.rs), then prints
#  - its size (target: at most 15 MB at 100,000 documents),
#  - the writer's time,
#  - where Chromium is installed: the time headless Chromium takes to open and render it (a
#    screenshot), beside its time for an empty page, and the time to open it with a search by
#    nomorAju (audit.html#q=…), which must show the document with both runs' photos' sha256
#    (checked in the DOM Chromium dumps).
# Exits non-zero when the size is over 15 MB, the render takes 10 s or more, or the search fails.
# `make audit-month` runs it after the month.
#
#   bash scripts/audit-size.sh [DOCUMENTS] [PHOTOS]
set -euo pipefail
cd "$(dirname "$0")/.."

docs=${1:-100000}
photos=${2:-1}
limit=15000000

echo "==> building the audit_size example (release)"
cargo build --release --locked --quiet --example audit_size
bin=target/release/examples/audit_size
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
page="$work/audit.html"

"$bin" "$page" "$docs" "$photos" >"$work/out"
size=$(sed -n 's/^size=\([0-9]*\) .*/\1/p' "$work/out")
seconds=$(sed -n 's/.* seconds=\([0-9.]*\)$/\1/p' "$work/out")
aju=$(sed -n 's/^aju=//p' "$work/out")
sha=$(sed -n 's/^sha256=//p' "$work/out")

failed=0
printf 'documents × photos  %s × %s\n' "$docs" "$photos"
printf 'audit.html          %s bytes (%s MB; target ≤ 15 MB), %s bytes a document\n' "$size" \
    "$(awk "BEGIN{printf \"%.2f\", $size/1e6}")" "$((size / (docs > 0 ? docs : 1)))"
printf 'writer              %s s\n' "$seconds"
[ "$size" -le "$limit" ] || { echo "FAIL: audit.html is over 15 MB"; failed=1; }

# shellcheck source=scripts/browser.sh
source scripts/browser.sh
render_and_find audit "$aju" "$sha" "1 document matches."
exit "$failed"
