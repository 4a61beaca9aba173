#!/usr/bin/env bash
# `make soak`: every gateway fault at once, for about five minutes, against a sandbox on loopback.
# The sandbox answers 503 before and after storing, 429s, HTML 502/504 pages, late commits (504
# now, stored 2.5 s later), reads lagging 1.5 s, and 6-second tokens renewed in 1.5 s; it keeps its
# records in a state folder. While the client sends a few hundred rows of several photos, the
# sandbox is SIGKILLed and restarted twice on that folder (same port), the client is SIGKILLed
# three times and resumed with `run --resume`, and a second run for the same account is started
# from another --out. A `retry` follows if rows ended FAILED. Then the figures are printed and
# checked: photos held twice (0), rows lost (0), rows ending neither MATCH nor FAILED with a
# message (0), MATCH rows whose sandbox record is not exactly their folder (0), the most requests
# the sandbox saw in one second (at most rate + 1), and the second run's exit code (4). Exit 1 when
# a check fails. Needs the Rust toolchain and python3 only.
#
# Settings: SOAK_ROWS (240), SOAK_RATE (10), SOAK_SEED (11), SOAK_DIR (target/soak: kept after the
# soak, with every run folder, the sandbox's logs and its state before each kill).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

rows=${SOAK_ROWS:-240}
rate=${SOAK_RATE:-10}
seed=${SOAK_SEED:-11}
work=${SOAK_DIR:-$root/target/soak}
late_ms=2500
stale_ms=1500
settle=5 # longer than a late commit plus the read lag: the first get after a 504 sees the photos

# Only what this script sets reaches the client.
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep '^KIRIM_XRAY_' || true)
export KIRIM_XRAY_USERNAME=demo KIRIM_XRAY_PASSWORD=demo
py() { python3 -B "$root/scripts/soak.py" "$@"; }
json_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' "$@"; }

echo "==> building kirim-xray (release)"
cargo build --release --locked --quiet
bin=$(cd "$root" && realpath -m "${CARGO_TARGET_DIR:-target}")/release/kirim-xray

rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)
# The client and the sandbox run from the soak folder, so that no kirim-xray.toml is picked up.
cd "$work"
started=$(date +%s)

sandbox_pid=""
client_pid=""
second_pid=""
cleanup() {
    local pid
    for pid in $sandbox_pid $client_pid $second_pid; do kill "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

echo "==> manifest: $(py manifest "$work/data" "$rows" "$seed")"
manifest=$work/data/manifest.csv

# --- the sandbox ---------------------------------------------------------------------------------

life=0
port=0
last_event=0
url=""
max_rps_lives=""
# Starts the sandbox binary itself in the background ($! is its pid), on the port of the first life.
start_sandbox() {
    life=$((life + 1))
    local out=$work/sandbox-$life.stdout try
    for try in $(seq 1 50); do
        : >"$out" # made here: the child opens its redirections only after the fork
        "$bin" sandbox --bind "127.0.0.1:$port" --state-dir "$work/sandbox-state" \
            --seed "$((seed + life))" \
            --fail-rate 0.03 --ambiguous-rate 0.03 --gateway-error-rate 0.02 \
            --late-commit-rate 0.05 --late-commit-ms "$late_ms" --stale-read-ms "$stale_ms" \
            --throttle-rate 0.02 --max-rps "$((rate + 1))" \
            --token-ttl 6 --refresh-ttl 40 --auth-latency-ms 1500 \
            >"$out" 2>"$work/sandbox-$life.log" &
        sandbox_pid=$!
        local i listening=""
        for i in $(seq 1 100); do
            listening=$(sed -n 's/^listening on //p' "$out" | head -n 1)
            [ -n "$listening" ] && break
            kill -0 "$sandbox_pid" 2>/dev/null || break
            sleep 0.1
        done
        if [ -n "$listening" ]; then
            url=$listening
            port=${url##*:}
            echo "    sandbox life $life at $url (pid $sandbox_pid)"
            last_event=$(date +%s)
            return 0
        fi
        # The port of the killed sandbox may not be free yet.
        kill "$sandbox_pid" 2>/dev/null || true
        wait "$sandbox_pid" 2>/dev/null || true
        sleep 0.2
    done
    echo "the sandbox did not start on port $port:"
    tail -n 5 "$work/sandbox-$life.log"
    exit 1
}

# Reads the state just before the kill: max_rps and pending late commits die with the process.
kill_sandbox() {
    echo "    sandbox life $life before its kill: $(py state "$url" "$work/state-life$life.json")"
    max_rps_lives="$max_rps_lives$(json_field "$work/state-life$life.json" max_rps),"
    kill -KILL "$sandbox_pid"
    wait "$sandbox_pid" 2>/dev/null || true
}

start_sandbox

# --- the client ----------------------------------------------------------------------------------

client_args=(--api-url "$url/openapi/cnpibk" --auth-url "$url" --rate "$rate" --concurrency 6
    --retries 12 --settle "$settle" --max-images-per-request 2 --timeout 20)

runs=$work/runs
client_n=1
echo "==> kirim-xray run: $rows rows, --rate $rate, --settle $settle, --max-images-per-request 2"
"$bin" run "$manifest" --out "$runs" "${client_args[@]}" >"$work/client-1.out" 2>&1 &
client_pid=$!

run_dir=""
for _ in $(seq 1 300); do
    [ -L "$runs/latest" ] && { run_dir=$(readlink -f "$runs/latest"); break; }
    kill -0 "$client_pid" 2>/dev/null || break
    sleep 0.1
done
[ -n "$run_dir" ] || { echo "the client made no run folder:"; tail -n 5 "$work/client-1.out"; exit 1; }
echo "    run folder $run_dir"

missed=""
stopped=""
client_exit=""

start_resume() {
    client_n=$((client_n + 1))
    "$bin" run --resume "$run_dir" >"$work/client-$client_n.out" 2>&1 &
    client_pid=$!
    last_event=$(date +%s)
}

# Called once the client is gone: collects its exit code. Exit 3 (could not reach the API) leaves
# rows SKIPPED: that fails the soak, but the client is resumed (up to 3 times) so that the events
# still happen and the other checks see every row. Fails when the client has really ended.
client_ended() {
    client_exit=0
    wait "$client_pid" || client_exit=$?
    client_pid=""
    if [ "$client_exit" = 3 ] && [ "$(grep -c . <<<"$stopped")" -lt 3 ]; then
        local note
        note=$(json_field "$run_dir/summary.json" note)
        echo "--> $(($(date +%s) - started)) s, the client stopped with exit code 3 ($note):" \
            "$(py statuses "$run_dir"); resuming it"
        stopped="$stopped$note"$'\n'
        start_resume
        return 0
    fi
    return 1
}

# Waits until $1 percent of the rows have a final journal line, and at least 8 s after the last
# event ended (so that a resumed client has logged in before the sandbox goes down, and a restarted
# sandbox has served a while before the client is killed); fails when the client has ended.
at_progress() {
    local want=$((rows * $1 / 100)) done_rows
    while :; do
        if [ -z "$client_pid" ] || ! kill -0 "$client_pid" 2>/dev/null; then
            [ -n "$client_pid" ] && client_ended && continue
            echo "--> the client ended before $1% of the rows: no $2"
            missed="$missed $2;"
            return 1
        fi
        done_rows=$(py progress "$run_dir")
        if [ "$done_rows" -ge "$want" ] && [ "$(($(date +%s) - last_event))" -ge 8 ]; then
            last_event=$(date +%s)
            echo "--> $(($(date +%s) - started)) s, $done_rows of $rows rows done: $2"
            return 0
        fi
        sleep 0.5
    done
}

kill_and_resume_client() {
    kill -KILL "$client_pid"
    wait "$client_pid" 2>/dev/null || true
    start_resume
}

second_exit=""
second_dir=""
# A second run for the same account from another --out: once a host-wide lock per account exists,
# it exits 4 at once. Until then it sends; it is stopped (SIGTERM) after 15 s and what it did is
# kept in runs-second/.
second_run() {
    "$bin" run "$manifest" --out "$work/runs-second" "${client_args[@]}" \
        >"$work/second.out" 2>&1 &
    second_pid=$!
    local i
    for i in $(seq 1 150); do
        kill -0 "$second_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$second_pid" 2>/dev/null; then
        echo "    the second run is still running after 15 s: stopping it with SIGTERM"
        kill -TERM "$second_pid"
    fi
    second_exit=0
    wait "$second_pid" || second_exit=$?
    second_pid=""
    last_event=$(date +%s)
    [ -L "$work/runs-second/latest" ] && second_dir=$(readlink -f "$work/runs-second/latest")
    echo "    the second run exited $second_exit: $(head -c 300 "$work/second.out" | tr '\n' ' ')"
    if [ -n "$second_dir" ]; then
        echo "    its run folder $second_dir: $(py statuses "$second_dir");" \
            "requests $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("requests", {}))' "$second_dir/summary.json" 2>/dev/null || echo unknown)"
    fi
}

if at_progress 8 "client SIGKILL 1"; then kill_and_resume_client; fi
if at_progress 18 "sandbox kill 1"; then kill_sandbox; start_sandbox; fi
if at_progress 25 "second run for the same account"; then second_run; fi
if at_progress 35 "client SIGKILL 2"; then kill_and_resume_client; fi
if at_progress 50 "sandbox kill 2"; then kill_sandbox; start_sandbox; fi
if at_progress 65 "client SIGKILL 3"; then kill_and_resume_client; fi

while [ -n "$client_pid" ]; do
    if kill -0 "$client_pid" 2>/dev/null; then sleep 0.5; else client_ended || true; fi
done
echo "==> the client ended with exit code $client_exit after $(($(date +%s) - started)) s:" \
    "$(py statuses "$run_dir")"

retry_dir=""
if py statuses "$run_dir" | grep -q 'FAILED='; then
    echo "==> kirim-xray retry $run_dir --status FAILED"
    retry_exit=0
    "$bin" retry "$run_dir" --status FAILED >"$work/retry.out" 2>&1 || retry_exit=$?
    latest=$(readlink -f "$runs/latest")
    [ "$latest" != "$run_dir" ] && retry_dir=$latest
    echo "    exit code $retry_exit; ${retry_dir:-no new run folder}: $([ -n "$retry_dir" ] && py statuses "$retry_dir")"
fi

echo "    sandbox life $life at the end: $(py state "$url" "$work/state-final.json")"
max_rps_lives="$max_rps_lives$(json_field "$work/state-final.json" max_rps)"
kill "$sandbox_pid" 2>/dev/null || true
wait "$sandbox_pid" 2>/dev/null || true
sandbox_pid=""

echo "==> soak folder $work ($(($(date +%s) - started)) s)"
check=0
py check --manifest-dir "$work/data" --state "$work/state-final.json" --run-dir "$run_dir" \
    --retry-dir "$retry_dir" --second-dir "$second_dir" --second-exit "$second_exit" \
    --max-rps "$max_rps_lives" --rate "$rate" || check=$?
if [ -n "$stopped" ]; then
    echo "FAIL: the client stopped with exit code 3 and was resumed, $(grep -c . <<<"$stopped") times:"
    printf '%s' "$stopped" | sed 's/^/      /'
    check=1
fi
if [ -n "$missed" ]; then
    echo "FAIL: the client finished before these events:$missed"
    check=1
fi
exit "$check"
