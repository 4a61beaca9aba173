#!/usr/bin/env bash
# `make bench`: the speed and memory targets, measured side by side in one go against a sandbox on
# loopback (never a timed unit test: these machines are shared and noisy).
#  1. rate: with --rate 20 --burst 1 the sandbox never sees more than 21 API requests in any
#     one-second window, and the achieved rate is at least 90% of 20.
#  2. memory: the client's peak RSS with 48 MiB photos stays close to its peak with 1 MiB photos
#     (bodies are streamed from disk, never held whole).
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in curl jq; do
    command -v "$tool" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$tool" >/dev/null; }
done
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }

echo "==> building kirim-xray (release)"
cargo build --release --locked --quiet
bin=$(realpath -m "${CARGO_TARGET_DIR:-target}")/release/kirim-xray
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

start_sandbox() { # args → sets $url
    : >"$work/sandbox.out" # exists before the loop below reads it
    "$bin" sandbox --bind 127.0.0.1:0 "$@" >"$work/sandbox.out" 2>/dev/null &
    url=""
    for _ in $(seq 1 100); do
        url=$(sed -n 's/^listening on //p' "$work/sandbox.out" | head -n 1)
        [ -n "$url" ] && return 0
        sleep 0.1
    done
    echo "the sandbox did not start"; exit 1
}

# A photo file of $2 bytes: JPEG magic bytes, then random content.
photo() { { printf '\xff\xd8\xff\xe0'; head -c "$(($2 - 4))" /dev/urandom; } >"$1"; }

manifest() { # dir rows photo_bytes
    local dir=$1 rows=$2 size=$3
    mkdir -p "$dir"
    echo "nomorAju,nomorBlAwb,tanggalBlAwb,kodeKantor,folder" >"$dir/manifest.csv"
    for i in $(seq 1 "$rows"); do
        local bl; bl=$(printf 'CNBENCH%05d' "$i")
        mkdir -p "$dir/img/$bl"
        photo "$dir/img/$bl/xray-1.jpg" "$size"
        echo "01234567890123450000002026112${i}${bl}CN1,$bl,2026-11-20,009000,img/$bl" >>"$dir/manifest.csv"
    done
}

run() { # manifest out extra...
    local m=$1 out=$2; shift 2
    KIRIM_XRAY_USERNAME=demo KIRIM_XRAY_PASSWORD=demo "$bin" run "$m" --quiet \
        --api-url "$url/openapi/cnpibk" --auth-url "$url" --out "$out" "$@" >/dev/null
}

echo "==> 1. rate: 300 rows, --rate 20 --burst 1, 4 workers"
start_sandbox
manifest "$work/rate" 300 2048
run "$work/rate/manifest.csv" "$work/rate/runs" --rate 20 --burst 1 --concurrency 4
max=$(curl -fsS "$url/__sandbox/state" | jq .max_rps)
achieved=$(jq .requests.achieved_rate "$work/rate/runs/latest/summary.json")
ratio=$(jq -n "$achieved / 20")
printf '    most requests in any 1 s window: %s (the limiter grants at most 20; limit 21)\n' "$max"
printf '    achieved rate: %.2f/s = %.1f%% of 20 (target >= 90%%)\n' "$achieved" "$(jq -n "$ratio * 100")"
kill %1 2>/dev/null || true; wait 2>/dev/null || true

echo "==> 2. memory: 4 rows of 1 MiB photos vs 4 rows of 48 MiB photos"
start_sandbox --max-body-bytes 200000000
manifest "$work/small" 4 $((1024 * 1024))
manifest "$work/large" 4 $((48 * 1024 * 1024))
peak_kb() { # manifest out → peak RSS of the client in KiB
    KIRIM_XRAY_USERNAME=demo KIRIM_XRAY_PASSWORD=demo /usr/bin/time -f '%M' -o "$work/rss" \
        "$bin" run "$1" --quiet --api-url "$url/openapi/cnpibk" --auth-url "$url" --out "$2" \
        --max-image-bytes 100000000 --max-request-bytes 100000000 --rate 50 >/dev/null
    tail -n 1 "$work/rss"
}
small_kb=$(peak_kb "$work/small/manifest.csv" "$work/small/runs")
large_kb=$(peak_kb "$work/large/manifest.csv" "$work/large/runs")
printf '    peak RSS with 1 MiB photos:  %6d KiB\n' "$small_kb"
printf '    peak RSS with 48 MiB photos: %6d KiB (ratio %.2f; a client holding bodies would need > 48 MiB more)\n' \
    "$large_kb" "$(jq -n "$large_kb / $small_kb")"

fail=0
[ "$max" -le 21 ] || { echo "FAIL: rate limit exceeded"; fail=1; }
jq -e -n "$ratio >= 0.9" >/dev/null || { echo "FAIL: achieved rate below 90%"; fail=1; }
[ "$((large_kb - small_kb))" -lt $((24 * 1024)) ] || { echo "FAIL: memory grows with photo size"; fail=1; }
[ "$fail" = 0 ] && echo "==> all targets met"
exit "$fail"
