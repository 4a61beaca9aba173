# Two commands on a fresh machine: `make demo` and `make test`. Everything they need they install.
CARGO ?= cargo

.PHONY: all build tools fmt lint test fuzz demo bench clean

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

bench:
	bash scripts/bench.sh

clean:
	$(CARGO) clean
	rm -rf runs demo-runs
