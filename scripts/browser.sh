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

# render_and_find NAME QUERY SHA256 WANT: render $page (fail at 10 s or more), then open it at
# #q=QUERY and check that the search says WANT and shows SHA256. The search as a reader sees it
# is timed; the DOM after it is dumped untimed (dumping a large page's DOM is slow).
render_and_find() {
    local name=$1 query=$2 sha=$3 want=$4 render search matches
    render=$(browser --screenshot="$work/$name.png" "file://$page")
    printf 'render (screenshot) %s s; an empty page takes %s s (start-up); load average %s\n' \
        "$render" "$empty" "$(cut -d ' ' -f 1 /proc/loadavg 2>/dev/null || echo '?')"
    awk "BEGIN{exit !($render < 10)}" || { echo "FAIL: rendering took 10 s or more"; failed=1; }
    search=$(browser --screenshot="$work/search.png" "file://$page#q=$query")
    browser --dump-dom "file://$page#q=$query" >/dev/null
    matches=$(grep -o '<p id="kx-out"[^<]*' "$work/browser.out" | sed 's/.*>//' || true)
    if grep -q "<code class=\"h\">$sha</code>" "$work/browser.out" && [ "$matches" = "$want" ]; then
        printf 'search              #q=%s: "%s", its sha256 %s… shown; render + search %s s\n' \
            "$query" "$matches" "${sha:0:16}" "$search"
    else
        echo "FAIL: searching #q=$query did not show its sha256 (said: ${matches:-nothing})"
        failed=1
    fi
}
