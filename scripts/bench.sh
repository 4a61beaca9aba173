#!/usr/bin/env bash
# `make bench` (and `make bench-large`): every figure of kirim-xray measured in one go, against
# sandboxes on loopback, and printed side by side at the end (never a timed unit test: these
# machines are shared and noisy). docs/benchmarks.md records the figures and the machine.
#
#  memory     peak RSS (/usr/bin/time -v) of `run` and `validate` at 10,000 rows of 2 photos, and
#             with --large at 100,000 rows too (and their ratio: flat means bounded); validate of
#             the same rows as an .xlsx; `report` rebuilding the run folder from its journal; run
#             with 1 MiB photos against 48 MiB photos (bodies are streamed, never held whole)
#  report     report.html's size (at 100,000 rows with --large); where Chromium is installed, the
#             time headless Chromium takes to render it and a search by nomorAju that must show
#             the row's sha256 (scripts/browser.sh)
#  verify     peak RSS of `verify` over the same run folders
#  rate       --rate 20 --burst 1: the most requests the sandbox saw in any one-second window,
#             and the achieved rate against the configured one
#  latency    rows per second with the sandbox at --latency-ms 50 and --concurrency 16, against
#             the ideal C / (2 x latency): each row is a kirim and a get
#  cpu        CPU seconds per GiB of photos sent, beside `curl -F` sending the same photos with
#             `xargs -P` at the same concurrency
#  re-run     the image bytes that a second run of the demo sends (sandbox --summary)
#
# Usage: scripts/bench.sh [--large]
set -euo pipefail
cd "$(dirname "$0")/.."

large=false
[ "${1:-}" = "--large" ] && large=true

need() { # command package
    command -v "$1" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }
}
need curl curl
need jq jq
need python3 python3
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }

echo "==> building kirim-xray (release)"
cargo build --release --locked --quiet
bin=$(realpath -m "${CARGO_TARGET_DIR:-target}")/release/kirim-xray
work=$(mktemp -d)
sandboxes=()
cleanup() {
    for pid in "${sandboxes[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

start_sandbox() { # name args... → sets $url
    local name=$1; shift
    : >"$work/$name.out" # exists before the loop below reads it
    "$bin" sandbox --bind 127.0.0.1:0 "$@" >"$work/$name.out" 2>/dev/null &
    sandboxes+=("$!")
    url=""
    for _ in $(seq 1 100); do
        url=$(sed -n 's/^listening on //p' "$work/$name.out" | head -n 1)
        [ -n "$url" ] && return 0
        sleep 0.1
    done
    echo "the sandbox did not start"; exit 1
}

stop_sandbox() {
    kill "${sandboxes[-1]}" 2>/dev/null || true
    wait "${sandboxes[-1]}" 2>/dev/null || true
    unset 'sandboxes[-1]'
}

# DIR ROWS PHOTOS BYTES [xlsx]: manifest.csv (and .xlsx) and the photos.
manifest() { python3 scripts/bench-manifest.py "$@"; }

# `/usr/bin/time -v` of a command: sets $rss_kib, $cpu_s (user + system) and $secs.
measured() {
    /usr/bin/time -v -o "$work/time" "$@" >"$work/out" 2>"$work/err" || true
    rss_kib=$(sed -n 's/^\s*Maximum resident set size (kbytes): //p' "$work/time")
    cpu_s=$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$work/time")
    secs=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0;
        for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.1f", s }' "$work/time")
}

run_client() { # manifest out extra... (against $url)
    local m=$1 out=$2; shift 2
    measured env KIRIM_XRAY_USERNAME=demo KIRIM_XRAY_PASSWORD=demo \
        KIRIM_XRAY_LOCK_DIR="$work/locks" "$bin" run "$m" --quiet \
        --api-url "$url/openapi/cnpibk" --auth-url "$url" --out "$out" "$@"
}

mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }

declare -a rows_out=()
row() { rows_out+=("$(printf '%-50s %-34s %s' "$1" "$2" "${3:-}")"); }
fail=0
check() { # condition-exit-code message
    if [ "$1" != 0 ]; then echo "FAIL: $2"; fail=1; fi
}

sizes=(10000)
$large && sizes+=(100000)
declare -A run_rss validate_rss xlsx_rss report_rss html_bytes verify_rss html_render
for n in "${sizes[@]}"; do
    echo "==> memory: $n rows of 2 photos (making the photos the first time)"
    manifest "$work/m$n" "$n" 2 1024 xlsx
    measured "$bin" validate "$work/m$n/manifest.csv"
    validate_rss[$n]=$rss_kib
    measured "$bin" validate "$work/m$n/manifest.xlsx"
    xlsx_rss[$n]=$rss_kib
    start_sandbox "s$n"
    run_client "$work/m$n/manifest.csv" "$work/m$n/runs" --rate 100000 --burst 100 --concurrency 16
    run_rss[$n]=$rss_kib
    [ "$(jq .counts.MATCH "$work/m$n/runs/latest/summary.json")" = "$n" ] ||
        check 1 "the $n-row run did not end with every row MATCH"
    html_bytes[$n]=$(stat -c %s "$work/m$n/runs/latest/report.html")
    stop_sandbox
    measured "$bin" report "$work/m$n/runs/latest"
    report_rss[$n]=$rss_kib
    measured "$bin" verify "$work/m$n/runs/latest"
    verify_rss[$n]=$rss_kib
    grep -q '^verdict     as the run left it$' "$work/out" || check 1 "verify of the $n-row run found differences"
    # report.html in headless Chromium: render it, and find the middle row by its nomorAju.
    run_dir=$(readlink -f "$work/m$n/runs/latest")
    mid=$((n / 2 + 1))
    aju=$(awk -F, -v r="$mid" '$1 == r { print $2; exit }' "$run_dir/results.csv")
    sha=$(awk -F, -v r="$mid" '$1 == r { print $5; exit }' "$run_dir/images.csv")
    if browser_out=$(page="$run_dir/report.html" failed=0 bash -c \
        'work=$1; source scripts/browser.sh; render_and_find report "$2" "$3" "1 row matches."; exit "$failed"' \
        _ "$work" "$aju" "$sha"); then :; else check 1 "report.html of $n rows: render or search failed"; fi
    printf '%s\n' "$browser_out" | sed 's/^/    /'
    html_render[$n]=$(sed -n 's/^render (screenshot) \([0-9.]*\) s.*/\1 s/p' <<<"$browser_out")
    grep -q '^search .* shown' <<<"$browser_out" && html_render[$n]="${html_render[$n]}, row found by nomorAju"
    [ -n "${html_render[$n]}" ] || html_render[$n]="Chromium not installed"
    printf '    validate %s, validate .xlsx %s, run %s, report %s, report.html %s bytes\n' \
        "$(mib "${validate_rss[$n]}")" "$(mib "${xlsx_rss[$n]}")" "$(mib "${run_rss[$n]}")" \
        "$(mib "${report_rss[$n]}")" "${html_bytes[$n]}"
    rm -rf "$work/m$n"
done

echo "==> memory: 4 rows of 1 MiB photos against 4 rows of 48 MiB photos"
start_sandbox photos --max-body-bytes 200000000
manifest "$work/small" 4 1 $((1024 * 1024))
manifest "$work/large" 4 1 $((48 * 1024 * 1024))
big=(--max-image-bytes 100000000 --max-request-bytes 100000000 --rate 50)
run_client "$work/small/manifest.csv" "$work/small/runs" "${big[@]}"
small_kib=$rss_kib
run_client "$work/large/manifest.csv" "$work/large/runs" "${big[@]}"
large_kib=$rss_kib
stop_sandbox
rm -rf "$work/small" "$work/large"

echo "==> rate: 300 rows, --rate 20 --burst 1, 4 workers"
start_sandbox rate
manifest "$work/rate" 300 1 2048
run_client "$work/rate/manifest.csv" "$work/rate/runs" --rate 20 --burst 1 --concurrency 4
max_rps=$(curl -fsS "$url/__sandbox/state" | jq .max_rps)
achieved=$(jq .requests.achieved_rate "$work/rate/runs/latest/summary.json")
stop_sandbox

echo "==> latency: 800 rows, sandbox --latency-ms 50, --concurrency 16"
start_sandbox latency --latency-ms 50
manifest "$work/latency" 800 1 2048
run_client "$work/latency/manifest.csv" "$work/latency/runs" --rate 1000 --burst 16 --concurrency 16
rows_per_s=$(jq '.requests.achieved_rate * .rows_in_run / .requests.api_requests' \
    "$work/latency/runs/latest/summary.json")
ideal=$(awk 'BEGIN { printf "%.0f", 16 / (2 * 0.050) }')
stop_sandbox

echo "==> cpu: 128 rows of 2 photos of 2 MiB, kirim-xray then curl -F (xargs -P 16)"
manifest "$work/cpu" 128 2 $((2 * 1024 * 1024))
start_sandbox cpu
run_client "$work/cpu/manifest.csv" "$work/cpu/runs" --rate 1000 --burst 16 --concurrency 16
client_cpu=$cpu_s
sent=$("$bin" sandbox --summary "$url" | awk -F= '/^image_bytes_(kirim|add)=/ { s += $2 } END { print s + 0 }')
stop_sandbox
start_sandbox curl
token=$(curl -fsS "$url/nle-oauth/v1/user/login" -H 'Content-Type: application/json' \
    -d '{"username":"demo","password":"demo"}' | jq -r .item.access_token)
mkdir -p "$work/cpu/data"
tail -n +2 "$work/cpu/manifest.csv" | while IFS=, read -r aju bl date kantor folder; do
    printf '{"nomorAju":"%s","nomorBlAwb":"%s","tanggalBlAwb":"%s","kodeKantor":"%s"}' \
        "$aju" "$bl" "$date" "$kantor" >"$work/cpu/data/$bl.json"
    echo "$bl $work/cpu/$folder"
done >"$work/cpu/rows"
data_dir="$work/cpu/data"
export token url data_dir
measured xargs -P 16 -n 2 sh -c 'curl -fsS -o /dev/null -H "Authorization: Bearer $token" \
    -F "data=<$data_dir/$0.json;type=application/json" \
    -F "images=@$1/xray-1.jpg;type=image/jpeg" -F "images=@$1/xray-2.jpg;type=image/jpeg" \
    "$url/openapi/cnpibk/xray/kirim-foto-xray"' <"$work/cpu/rows"
curl_cpu=$cpu_s
curl_sent=$("$bin" sandbox --summary "$url" | awk -F= '/^image_bytes_kirim=/ { print $2 }')
stop_sandbox
rm -rf "$work/cpu"
per_gib() { awk -v c="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", c / (b / 1073741824); else print "n/a" }'; }

echo "==> re-run: the demo twice against one sandbox state"
start_sandbox demo --documents samples/documents.csv --state-dir "$work/demo-state"
rerun_bytes=()
for pass in 1 2; do
    before=$("$bin" sandbox --summary "$url" | awk -F= '/^image_bytes_(kirim|add)=/ { s += $2 } END { print s + 0 }')
    run_client samples/manifest.csv "$work/demo-runs" --rate 10
    after=$("$bin" sandbox --summary "$url" | awk -F= '/^image_bytes_(kirim|add)=/ { s += $2 } END { print s + 0 }')
    rerun_bytes+=($((after - before)))
done
# The second run asks with get about what the first saw stored, and about the BL/AWB customs did
# not know a moment before (recheck_not_found): every byte of it would be a photo sent for nothing.
stop_sandbox

echo
echo "==> figures ($(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
for n in "${sizes[@]}"; do
    row "peak RSS run, $n rows x 2 photos" "$(mib "${run_rss[$n]}")" "$([ "$n" = 100000 ] && echo 'target <= 100 MiB')"
done
for n in "${sizes[@]}"; do
    row "peak RSS validate, $n rows (CSV)" "$(mib "${validate_rss[$n]}")" "$([ "$n" = 100000 ] && echo 'target <= 60 MiB')"
done
for n in "${sizes[@]}"; do
    row "peak RSS validate, $n rows (.xlsx)" "$(mib "${xlsx_rss[$n]}")" "shared strings held whole"
done
for n in "${sizes[@]}"; do
    row "peak RSS report (from the journal), $n rows" "$(mib "${report_rss[$n]}")"
done
if $large; then
    row "ratio run 100k / 10k" "$(ratio "${run_rss[10000]}" "${run_rss[100000]}")" "1.00 = flat"
    row "ratio validate 100k / 10k (CSV)" "$(ratio "${validate_rss[10000]}" "${validate_rss[100000]}")" "1.00 = flat"
    row "ratio validate 100k / 10k (.xlsx)" "$(ratio "${xlsx_rss[10000]}" "${xlsx_rss[100000]}")"
    row "ratio report 100k / 10k" "$(ratio "${report_rss[10000]}" "${report_rss[100000]}")"
fi
for n in "${sizes[@]}"; do
    row "report.html, $n rows" "$(mib $((html_bytes[$n] / 1024)))" "$([ "$n" = 100000 ] && echo 'target <= 15 MB')"
done
for n in "${sizes[@]}"; do
    row "report.html in headless Chromium, $n rows" "${html_render[$n]}" "render target < 10 s"
done
for n in "${sizes[@]}"; do
    row "peak RSS verify, $n rows" "$(mib "${verify_rss[$n]}")"
done
row "peak RSS run, 1 MiB photos / 48 MiB photos" "$(mib "$small_kib") / $(mib "$large_kib")" "bodies streamed"
row "most requests in any 1 s window (--rate 20)" "$max_rps" "limit 21"
row "achieved / configured rate" "$(awk -v a="$achieved" 'BEGIN { printf "%.2f/s / 20 = %.0f%%", a, a * 5 }')" "target >= 90%"
row "rows/s at 50 ms latency, 16 workers" "$(printf '%.0f' "$rows_per_s")" "ideal C/(2 x latency) = $ideal"
row "CPU s per GiB sent, kirim-xray" "$(per_gib "$client_cpu" "$sent")" "hashes each photo twice"
row "CPU s per GiB sent, curl -F (xargs -P 16)" "$(per_gib "$curl_cpu" "$curl_sent")" "no hashing"
row "image bytes sent by the demo, first / second run" "${rerun_bytes[0]} / ${rerun_bytes[1]}" \
    "target: second 0"
printf '%s\n' "${rows_out[@]}"
echo

[ "$max_rps" -le 21 ] || check 1 "rate limit exceeded"
awk -v a="$achieved" 'BEGIN { exit !(a >= 18) }' || check 1 "achieved rate below 90% of 20"
[ "$((large_kib - small_kib))" -lt $((24 * 1024)) ] || check 1 "memory grows with photo size"
[ "${rerun_bytes[1]}" = 0 ] || check 1 "the demo's re-run sent ${rerun_bytes[1]} photo bytes"
if $large; then
    [ "${run_rss[100000]}" -le $((100 * 1024)) ] || check 1 "run peaks over 100 MiB at 100,000 rows"
    [ "${validate_rss[100000]}" -le $((60 * 1024)) ] || check 1 "validate peaks over 60 MiB at 100,000 rows"
    [ "${html_bytes[100000]}" -le 15000000 ] || check 1 "report.html over 15 MB at 100,000 rows"
fi
[ "$fail" = 0 ] && echo "==> all targets met"
exit "$fail"
