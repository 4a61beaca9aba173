#!/usr/bin/env bash
# `make audit-month`: the auditor's month at full size, against sandboxes on loopback (never a
# timed unit test: these machines are shared and noisy).
#  - NIGHTS nightly runs of ROWS rows each (tanggalBlAwb = that night's date). Every FAIL_EVERY-th
#    night goes to a sandbox that answers FAIL_RATE of its X-ray requests 503 with --retries 0,
#    so some rows end FAILED; a retry against the healthy sandbox fixes them, except after the
#    last such night, whose FAILED rows stay.
#  - `kirim-xray audit --from … --to …` over the month: timed (target ≤ 3 s), and its list of
#    documents not MATCH, with how many runs touched each, checked against the run folders'
#    results.csv read independently.
#  - `ledger rebuild`, then deleting the ledger, then a ledger of garbage bytes: each time the
#    audit gives the same audit.csv.
#  - audit.html at 100,000 documents: its size and Chromium's time to render and search it
#    (scripts/audit-size.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

NIGHTS=${NIGHTS:-30}
ROWS=${ROWS:-2000}
FAIL_EVERY=${FAIL_EVERY:-5}
FAIL_RATE=${FAIL_RATE:-0.02}
RATE=${RATE:-1000}

command -v python3 >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq python3 >/dev/null; }

echo "==> building kirim-xray (release)"
cargo build --release --locked --quiet
bin=$(realpath -m "${CARGO_TARGET_DIR:-target}")/release/kirim-xray
work=$(mktemp -d)
# KEEP_WORK=1 leaves the runs, the ledger and the audits in place, and says where.
if [ -n "${KEEP_WORK:-}" ]; then
    trap 'kill $(jobs -p) 2>/dev/null || true; echo "kept: $work"' EXIT
else
    trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
fi
out="$work/runs"
export KIRIM_XRAY_USERNAME=demo KIRIM_XRAY_PASSWORD=demo KIRIM_XRAY_LOCK_DIR="$work/locks"

start_sandbox() { # name args... → prints the URL
    local name=$1; shift
    : >"$work/$name.out"
    "$bin" sandbox --bind 127.0.0.1:0 "$@" >"$work/$name.out" 2>/dev/null &
    for _ in $(seq 1 100); do
        url=$(sed -n 's/^listening on //p' "$work/$name.out" | head -n 1)
        [ -n "$url" ] && { echo "$url"; return 0; }
        sleep 0.1
    done
    echo "the sandbox did not start" >&2; exit 1
}
healthy=$(start_sandbox healthy)
faulty=$(start_sandbox faulty --fail-rate "$FAIL_RATE" --seed 13)

# One photo folder per row, shared by every night (each night's documents are new).
echo "==> $ROWS photo folders"
python3 - "$work" "$ROWS" <<'PY'
import os, sys
work, rows = sys.argv[1], int(sys.argv[2])
for i in range(1, rows + 1):
    d = os.path.join(work, "img", f"r{i:05d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "xray-1.jpg"), "wb") as f:
        f.write(b"\xff\xd8\xff\xe0" + i.to_bytes(4, "big") * 64)
PY

send() { # command target url extra...
    local sub=$1 target=$2 u=$3; shift 3
    "$bin" "$sub" "$target" --quiet --api-url "$u/openapi/cnpibk" --auth-url "$u" --out "$out" \
        --rate "$RATE" --burst 50 --concurrency 8 --settle 0 "$@" >/dev/null || true
}

last_faulty=$(( NIGHTS / FAIL_EVERY * FAIL_EVERY ))
echo "==> $NIGHTS nights of $ROWS rows (FAILED rows on every ${FAIL_EVERY}th night, retried except night $last_faulty)"
for night in $(seq 1 "$NIGHTS"); do
    day=$(printf '2026-10-%02d' "$night")
    m="$work/manifest-$night.csv"
    python3 - "$m" "$night" "$ROWS" "$day" <<'PY'
import sys
path, night, rows, day = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
with open(path, "w") as f:
    f.write("nomorAju,nomorBlAwb,tanggalBlAwb,kodeKantor,folder\n")
    for i in range(1, rows + 1):
        bl = f"CNM{night:02d}R{i:05d}"
        aju = f"01234567890123450{night:02d}{i:05d}{day.replace('-', '')}{bl}"
        f.write(f"{aju},{bl},{day},009000,img/r{i:05d}\n")
PY
    t0=$(date +%s%N)
    if (( night % FAIL_EVERY == 0 )); then
        send run "$m" "$faulty" --retries 0
        run_dir=$(realpath "$out/latest")
        if (( night != last_faulty )); then
            send retry "$run_dir" "$healthy"
        fi
    else
        send run "$m" "$healthy"
    fi
    printf '    night %2d: %d ms\n' "$night" $(( ($(date +%s%N) - t0) / 1000000 ))
done

ledger="$out/ledger.sqlite"
[ -f "$ledger" ] || { echo "FAIL: no $ledger after the runs"; exit 1; }

audit() { # out_dir → audit.csv in it; prints the seconds taken
    local t0 t1
    t0=$(date +%s%N)
    "$bin" audit --out "$out" --from 2026-10-01 --to "$(printf '2026-10-%02d' "$NIGHTS")" \
        --out-dir "$1" >"$1.txt" 2>"$1.err" || true
    t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000000 ))
}

echo "==> audit of the month"
ms=$(audit "$work/a1")
head -1 "$work/a1.txt"
echo "    audit --from 2026-10-01 --to … : ${ms} ms (target ≤ 3000 ms), with audit.html, .csv, .xlsx"
for f in audit.html audit.csv audit.xlsx; do
    printf '    %-10s %s bytes\n' "$f" "$(wc -c <"$work/a1/$f")"
done
t0=$(date +%s%N)
"$bin" audit --out "$out" --from 2026-10-01 --to "$(printf '2026-10-%02d' "$NIGHTS")" --status NOT_MATCH --out-dir "$work/open" >/dev/null || true
echo "    audit --status NOT_MATCH      : $(( ($(date +%s%N) - t0) / 1000000 )) ms"

echo "==> checking the answers against the run folders' results.csv"
python3 - "$out" "$work/a1/audit.csv" <<'PY'
import csv, glob, json, os, sys
out, audit = sys.argv[1], sys.argv[2]
runs = []
for d in glob.glob(os.path.join(out, "*")):
    if os.path.islink(d) or not os.path.isfile(os.path.join(d, "results.csv")):
        continue
    with open(os.path.join(d, "summary.json")) as f:
        runs.append((json.load(f)["started_at"], d))
latest, touched = {}, {}
for _, d in sorted(runs):
    with open(os.path.join(d, "results.csv"), newline="") as f:
        for r in csv.DictReader(f):
            latest[r["nomorAju"]] = r["status"]
            touched[r["nomorAju"]] = touched.get(r["nomorAju"], 0) + 1
want = {a: (s, touched[a]) for a, s in latest.items() if s != "MATCH"}
with open(audit, newline="") as f:
    rows = list(csv.DictReader(f))
got = {r["nomorAju"]: (r["status"], int(r["runs"])) for r in rows if r["status"] != "MATCH"}
assert len(rows) == len(latest), f"{len(rows)} documents listed, {len(latest)} in the run folders"
assert got == want, f"not MATCH: listed {len(got)}, expected {len(want)}"
fixed = sum(1 for r in rows if r["status"] == "MATCH" and int(r["runs"]) > 1)
print(f"    {len(rows)} documents; {len(got)} still not MATCH, exactly as the run folders say; "
      f"{fixed} FAILED then fixed by a retry")
assert len(got) > 0 and fixed > 0, "the month should hold both"
PY

echo "==> ledger rebuild, a deleted ledger, a corrupt ledger: the same answers"
"$bin" ledger rebuild --out "$out"
ms=$(audit "$work/a2"); cmp "$work/a1/audit.csv" "$work/a2/audit.csv"
echo "    after ledger rebuild: same audit.csv (${ms} ms)"
rm -f "$ledger"
ms=$(audit "$work/a3"); cmp "$work/a1/audit.csv" "$work/a3/audit.csv"
[ -f "$ledger" ] || { echo "FAIL: audit did not rebuild the deleted ledger"; exit 1; }
echo "    after deleting the ledger: same audit.csv, ledger rebuilt (${ms} ms including the rebuild)"
head -c 65536 /dev/urandom >"$ledger"
ms=$(audit "$work/a4"); cmp "$work/a1/audit.csv" "$work/a4/audit.csv"
echo "    after garbage bytes in the ledger: same audit.csv (${ms} ms including the rebuild)"
echo "==> audit.html at 100,000 documents (scripts/audit-size.sh)"
bash scripts/audit-size.sh 100000
echo "audit-month: OK"
