# confsync: the developer entry points. `make test` is what CI runs.

CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: run test bench chaos fmt lint build

## run: the receiver and worker, against the simulator unless Atlassian credentials are set
run:
	bash scripts/dev-run.sh

## test: format check, clippy with -D warnings, and the whole test suite
test:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	# The e2e tests run the real binaries as child processes.
	$(CARGO) build --workspace --bins --locked
	$(CARGO) nextest run --workspace --locked --no-fail-fast
	$(CARGO) test --workspace --doc --locked

## bench: every figure of DESIGN.md section 8 beside its target (release build)
bench:
	# The throughput and memory figures run the release worker binary.
	$(CARGO) build --release --workspace --bins --locked
	$(CARGO) bench -p confsync-tests --bench bench --locked

## chaos: the outage and fault-injection tests alone
chaos:
	$(CARGO) build --workspace --bins --locked
	$(CARGO) nextest run -p confsync-tests --locked -E 'test(/^chaos::/)'

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

build:
	$(CARGO) build --workspace --bins --locked
