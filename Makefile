# Two commands on a fresh machine: `make demo` and `make test`. Everything they need they install.
CARGO ?= cargo

.PHONY: all build tools fmt lint test demo bench bench-large clean

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

demo:
	bash scripts/demo.sh

# Every figure side by side (docs/benchmarks.md); bench-large adds the 100,000-row run (about
# 1.3 GB of photos in the temporary folder, and some minutes).
bench:
	bash scripts/bench.sh

bench-large:
	bash scripts/bench.sh --large

clean:
	$(CARGO) clean
	rm -rf runs demo-runs
