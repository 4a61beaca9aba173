#!/usr/bin/env python3
"""Helpers of `make soak` (scripts/soak.sh): the manifest and its photos, the sandbox's state, the
run's progress, and the final figures and checks. Python's standard library only, so that the soak
needs nothing beyond the Rust toolchain and python3.

    soak.py manifest DIR ROWS SEED         write DIR/manifest.csv and DIR/img/<BL>/ photos
    soak.py state URL FILE                 save GET URL/__sandbox/state to FILE, print a summary
    soak.py progress RUN_DIR               rows with a final line in RUN_DIR/journal.jsonl
    soak.py statuses RUN_DIR               count of each status in RUN_DIR/results.csv
    soak.py check --manifest-dir DIR ...   print the figures; exit 1 when a check fails
"""

import argparse
import csv
import hashlib
import json
import os
import random
import struct
import sys
import urllib.request
import zlib
from collections import Counter

FINAL = {"MATCH", "MISMATCH", "NOT_FOUND", "INVALID", "FAILED"}


# --- the manifest ----------------------------------------------------------------------------


def jpeg(rng, size):
    """SOI, APP0 JFIF, random bytes, EOI: recognised as JPEG by its first bytes."""
    head = bytes([0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10]) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    body = bytes(rng.getrandbits(8) for _ in range(max(size - len(head) - 2, 0)))
    return head + body + bytes([0xFF, 0xD9])


def png(rng):
    """A valid 1x1 RGB PNG with a random colour (a stored zlib block, as tests/it/util.rs does)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = bytes([0, rng.getrandbits(8), rng.getrandbits(8), rng.getrandbits(8)])
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def cmd_manifest(args):
    rng = random.Random(args.seed)
    os.makedirs(args.dir, exist_ok=True)
    photos = 0
    with open(os.path.join(args.dir, "manifest.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["nomorAju", "nomorBlAwb", "tanggalBlAwb", "kodeKantor", "folder"])
        for i in range(1, args.rows + 1):
            bl = f"CNSOAK{i:05d}"
            folder = os.path.join("img", bl)
            os.makedirs(os.path.join(args.dir, folder), exist_ok=True)
            count = rng.randint(2, 5)
            for k in range(1, count + 1):
                if k % 3 == 0:
                    name, data = f"xray-{k}.png", png(rng)
                else:
                    name, data = f"xray-{k}.jpg", jpeg(rng, rng.randint(1500, 6000))
                with open(os.path.join(args.dir, folder, name), "wb") as p:
                    p.write(data)
            photos += count
            w.writerow([f"0123456789012345{i:06d}20261120{bl}CN1", bl, "2026-11-20", "009000", folder])
    print(f"{args.rows} rows, {photos} photos")


# --- the sandbox's state ---------------------------------------------------------------------


def fetch_state(url):
    with urllib.request.urlopen(url.rstrip("/") + "/__sandbox/state", timeout=10) as r:
        return json.load(r)


def held_twice(state):
    """(photos held more than once, [(nomorAju, namaFile, copies)])."""
    extra, where = 0, []
    for rec in state.get("records", []):
        counts = Counter(p["namaFile"] for p in rec.get("photos", []))
        for name, n in sorted(counts.items()):
            if n > 1:
                extra += n - 1
                where.append((rec["nomorAju"], name, n))
    return extra, where


def cmd_state(args):
    state = fetch_state(args.url)
    with open(args.file, "w") as f:
        json.dump(state, f)
    photos = sum(len(r.get("photos", [])) for r in state.get("records", []))
    twice, _ = held_twice(state)
    lc = state.get("late_commits", {})
    print(
        f"max_rps {state.get('max_rps', 0)}; {len(state.get('records', []))} records, "
        f"{photos} photos, {twice} held twice; late commits {lc.get('scheduled', 0)} scheduled, "
        f"{lc.get('applied', 0)} applied, {lc.get('refused', 0)} refused, "
        f"{lc.get('pending', 0)} pending"
    )


# --- the run folder --------------------------------------------------------------------------


def journal(run_dir):
    """The last line of every row in the journal (torn lines skipped)."""
    last = {}
    try:
        with open(os.path.join(run_dir, "journal.jsonl"), encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                if isinstance(r, dict) and "row" in r:
                    last[r["row"]] = r
    except FileNotFoundError:
        pass
    return last


def aju_of(line):
    return line.get("fields", {}).get("nomor_aju")


def cmd_progress(args):
    print(sum(1 for r in journal(args.run_dir).values() if r.get("status") in FINAL))


def results(run_dir):
    path = os.path.join(run_dir, "results.csv")
    if not os.path.exists(path):
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        return {r["nomorAju"].lstrip("'"): r for r in csv.DictReader(f)}


def cmd_statuses(args):
    counts = Counter(r["status"] for r in results(args.run_dir).values())
    print(" ".join(f"{s}={n}" for s, n in sorted(counts.items())) or "none")


# --- the figures and checks ------------------------------------------------------------------


def local_photos(manifest_dir):
    """{nomorAju: (row, {name: sha256})} from the generated manifest."""
    out = {}
    with open(os.path.join(manifest_dir, "manifest.csv"), newline="") as f:
        for row, r in enumerate(csv.DictReader(f), start=2):
            folder = os.path.join(manifest_dir, r["folder"])
            names = {}
            for name in sorted(os.listdir(folder)):
                with open(os.path.join(folder, name), "rb") as p:
                    names[name] = hashlib.sha256(p.read()).hexdigest()
            out[r["nomorAju"]] = (row, names)
    return out


def held_names(record):
    return ", ".join(p["namaFile"] for p in (record or {}).get("photos", [])) or "nothing"


def cmd_check(a):
    local = local_photos(a.manifest_dir)
    with open(a.state) as f:
        state = json.load(f)
    final = results(a.run_dir)
    retried = results(a.retry_dir) if a.retry_dir else {}
    main_journal = {aju_of(r): r for r in journal(a.run_dir).values()}
    # Rows the second run sent requests for, or gave up on while they were in flight.
    second = {
        aju_of(r)
        for r in (journal(a.second_dir).values() if a.second_dir else [])
        if r.get("requests", 0) > 0 or "in flight" in r.get("message", "")
    }
    merged = dict(final)
    merged.update(retried)
    records = {r["nomorAju"]: r for r in state.get("records", [])}

    twice, where = held_twice(state)
    lost = sorted(local[k][0] for k in local if k not in final)
    unclear = []
    for aju, (row, _) in sorted(local.items(), key=lambda kv: kv[1][0]):
        r = merged.get(aju)
        if r is None:
            continue
        if r["status"] == "MATCH" or (r["status"] == "FAILED" and r["message"].strip()):
            continue
        unclear.append((row, r["status"], r["message"]))
    false_match = []
    for aju, r in merged.items():
        if r["status"] != "MATCH" or aju not in local:
            continue
        held = sorted((p["namaFile"], p["sha256"]) for p in records.get(aju, {}).get("photos", []))
        if held != sorted(local[aju][1].items()):
            false_match.append((local[aju][0], aju))
    lives = [int(x) for x in a.max_rps.split(",") if x]
    highest = max(lives, default=0)
    statuses = Counter(r["status"] for r in merged.values())
    photos_local = sum(len(n) for _, n in local.values())
    photos_held = sum(len(r.get("photos", [])) for r in state.get("records", []))

    print("==> figures")
    print(f"    manifest: {len(local)} rows, {photos_local} photos; the sandbox holds {photos_held} photos")
    print("    final statuses: " + (" ".join(f"{s}={n}" for s, n in sorted(statuses.items())) or "none"))
    print(f"    photos held twice on the sandbox: {twice}")
    for aju, name, n in where[:10]:
        row = local.get(aju, ("?",))[0]
        j = main_journal.get(aju, {})
        tag = " (the second run touched this row)" if aju in second else ""
        print(f"      row {row} {aju} {name} x{n}: action {j.get('action', '?')}, "
              f"attempts {j.get('attempts', '?')}, requests {j.get('requests', '?')}{tag}")
    if len(where) > 10:
        print(f"      ... and {len(where) - 10} more")
    if second and where:
        touched = sum(1 for aju, _, _ in where if aju in second)
        print(f"      of which on rows the second run touched: {touched} of {len(where)} names")
    print(f"    rows lost (manifest rows missing from the final results.csv): {len(lost)}"
          + (f" (rows {lost[:20]})" if lost else ""))
    print(f"    rows ending neither MATCH nor FAILED with a message: {len(unclear)}")
    for row, status, msg in unclear[:10]:
        print(f"      row {row} {status}: {msg[:160]}")
    if len(unclear) > 10:
        print(f"      ... and {len(unclear) - 10} more")
    print(f"    MATCH rows whose sandbox record is not exactly the folder (names and sha256): {len(false_match)}")
    for row, aju in sorted(false_match)[:10]:
        tag = " (the second run touched this row)" if aju in second else ""
        print(f"      row {row} {aju}: held {held_names(records.get(aju))}{tag}")
    print(f"    highest requests per second the sandbox saw: {highest} (per sandbox life: {a.max_rps}; limit {a.rate + 1})")

    failures = []
    if twice:
        failures.append(f"{twice} photos held twice")
    if lost:
        failures.append(f"{len(lost)} rows lost")
    if unclear:
        failures.append(f"{len(unclear)} rows ending neither MATCH nor FAILED with a message")
    if false_match:
        failures.append(f"{len(false_match)} MATCH rows whose record is not the folder")
    if highest > a.rate + 1:
        failures.append(f"{highest} requests in one second (limit {a.rate + 1})")
    if a.second_exit != "4":
        failures.append(f"the second run for the same account exited {a.second_exit}, not 4")
    for problem in failures:
        print(f"FAIL: {problem}")
    if not failures:
        print("==> every check passed")
    return 1 if failures else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("manifest")
    m.add_argument("dir")
    m.add_argument("rows", type=int)
    m.add_argument("seed", type=int)
    s = sub.add_parser("state")
    s.add_argument("url")
    s.add_argument("file")
    g = sub.add_parser("progress")
    g.add_argument("run_dir")
    t = sub.add_parser("statuses")
    t.add_argument("run_dir")
    c = sub.add_parser("check")
    c.add_argument("--manifest-dir", required=True)
    c.add_argument("--state", required=True, help="the sandbox's last state, saved by `state`")
    c.add_argument("--run-dir", required=True)
    c.add_argument("--retry-dir", default="")
    c.add_argument("--second-dir", default="", help="the run folder of the second run, if any")
    c.add_argument("--second-exit", default="")
    c.add_argument("--max-rps", required=True, help="max_rps of each sandbox life, comma-separated")
    c.add_argument("--rate", type=int, required=True)
    args = p.parse_args()
    handler = {
        "manifest": cmd_manifest,
        "state": cmd_state,
        "progress": cmd_progress,
        "statuses": cmd_statuses,
        "check": cmd_check,
    }[args.cmd]
    sys.exit(handler(args) or 0)


if __name__ == "__main__":
    main()
