# Two commands on a fresh machine: `make demo` and `make test`. Everything they need they install.
CARGO ?= cargo

.PHONY: all build tools fmt lint test fuzz demo bench bench-large soak audit-month audit-size man clean

all: build

build:
	$(CARGO) build --release

# rustfmt and clippy come with the toolchain component set; add them when missing.
tools:
	@command -v rustup >/dev/null 2>&1 && { rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt; } || true
	@command -v rustup >/dev/null 2>&1 && { rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy; } || true

fmt: tools
	$(CARGO) fmt --all

lint: tools
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --locked -- -D warnings
	# The lean production build, without the sandbox (and so without axum and tokio).
	$(CARGO) clippy --lib --bins --no-default-features --locked -- -D warnings

test: lint
	$(CARGO) test --all-targets --locked

# The fuzz targets (src/fuzz/: the CSV reader, the spreadsheet readers, the API answer parser).
# `make test` runs each for a fixed, small number of cases; this runs each for FUZZ_SECONDS on
# fresh random cases, one after the other.
FUZZ_SECONDS ?= 180

fuzz:
	KIRIM_XRAY_FUZZ_SECONDS=$(FUZZ_SECONDS) $(CARGO) test --lib --locked fuzz:: -- --test-threads 1 --nocapture

demo:
	bash scripts/demo.sh

# Man pages from the clap definitions: target/man/kirim-xray.1 and one page per command.
# View with `man target/man/kirim-xray.1`; install with `install -m 0644 target/man/*.1 /usr/local/share/man/man1/`.
man:
	$(CARGO) run --quiet --locked -- man --dir target/man

# Every figure side by side (docs/benchmarks.md); bench-large adds the 100,000-row run (about
# 1.3 GB of photos in the temporary folder, and some minutes).
bench:
	bash scripts/bench.sh

bench-large:
	bash scripts/bench.sh --large

# Thirty nights of 2,000 rows, some FAILED and fixed by retries, then `audit` over the month: timed,
# and its answers checked against the run folders (not part of test). NIGHTS=… ROWS=… to resize.
audit-month:
	bash scripts/audit-month.sh

# audit.html of 100,000 synthetic documents: its size (≤ 15 MB) and headless Chromium's render
# and search times (run by audit-month too).
audit-size:
	bash scripts/audit-size.sh

# Every gateway fault at once, with kills and resumes, for about five minutes (not part of test).
soak:
	bash scripts/soak.sh

clean:
	$(CARGO) clean
	rm -rf runs demo-runs
