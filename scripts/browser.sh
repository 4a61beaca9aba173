# Sourced by scripts/report-size.sh and scripts/audit-size.sh: finds headless Chromium (or
# KIRIM_XRAY_CHROMIUM), and defines `browser`. Expects $work (a scratch folder) and $failed.
# Where Chromium is absent it says so and exits with $failed: size is all that was measured.

chromium=${KIRIM_XRAY_CHROMIUM:-}
if [ -z "$chromium" ]; then
    for name in chromium chromium-browser google-chrome google-chrome-stable; do
        if command -v "$name" >/dev/null 2>&1; then chromium=$(command -v "$name"); break; fi
    done
fi
if [ -z "$chromium" ]; then
    echo "Chromium            not installed: render and search not measured (apt-get install chromium)"
    exit "$failed"
fi

# browser OUTPUT_FLAG URL: one headless Chromium, in a fresh profile; prints its wall time in s
# and leaves its standard output in $work/browser.out.
browser() {
    local profile; profile=$(mktemp -d)
    local start end
    start=$(date +%s.%N)
    "$chromium" --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$profile" \
        --window-size=1280,900 "$1" "$2" >"$work/browser.out" 2>/dev/null
    end=$(date +%s.%N)
    rm -rf "$profile"
    awk "BEGIN{printf \"%.2f\", $end - $start}"
}

printf '<!DOCTYPE html><title>empty</title><p>empty</p>' >"$work/empty.html"
# How long Chromium takes to start and show an empty page, to read render times against.
empty=$(browser --screenshot="$work/empty.png" "file://$work/empty.html")
