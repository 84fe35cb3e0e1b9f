# The commands people type. Each target installs what it needs first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-unit tools lint format bench soak variations schemas lock clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian's packages the tests need, each installed only when missing (a few seconds each;
# apt-get update first if the package lists are empty), apt's output shown only on failure.
# - prometheus: promtool and prometheus, for the alert rule tests and the Prometheus
#   integration test. On a host with systemd the package also starts its own service on
#   :9090; the tests run their own server on a free port, so that does not matter.
# - stunnel4: the TLS front of the Kafka TLS tests (Tansu cannot serve TLS itself).
# - faketime: steps a worker's wall clock an hour forwards and back in the clock fault test.
# - libjemalloc2: the allocator the workers run on in the image, the tests and the benchmarks.
# - chromium: the headless browser the duty inbox's browser test drives through Playwright
#   (Playwright never downloads a browser here; the test points it at this one).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
APT  := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300
APT_INSTALL := apt_install() { \
	  echo "installing Debian's $$1 package, $$2"; log=$$(mktemp); \
	  { $(APT) install --no-install-recommends $$1 >$$log 2>&1 || \
	    { $(APT) update >>$$log 2>&1 && \
	      $(APT) install --no-install-recommends $$1 >>$$log 2>&1; }; } || \
	  { cat $$log; rm -f $$log; return 1; }; \
	  rm -f $$log; \
	}
tools:  ## promtool and prometheus, for the alert tests; stunnel4, for the Kafka TLS tests; faketime, for the clock fault test; libjemalloc2, the workers' allocator; chromium, for the browser test
	@set -e; $(APT_INSTALL); \
	{ command -v promtool && command -v prometheus; } >/dev/null || \
	  apt_install prometheus "promtool and prometheus for the alert tests"; \
	command -v stunnel4 >/dev/null || apt_install stunnel4 "for the Kafka TLS tests"; \
	{ test -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 || command -v faketime; } \
	  >/dev/null || apt_install faketime "for the clock fault test"; \
	{ test -e /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 || \
	  test -e /usr/lib/aarch64-linux-gnu/libjemalloc.so.2; } || \
	  apt_install libjemalloc2 "the workers' allocator"; \
	command -v chromium >/dev/null || apt_install chromium "for the duty inbox's browser test"

run: $(STAMP)  ## broker (embedded unless KAFKA_BOOTSTRAP_SERVERS is set), worker, duty inbox, demo feed
	$(BIN)/dvtrigger run

# The suite on two processes: the fault tests one after another in one, the other modules
# shared out whole (tests/conftest.py, scope_of); each process starts its own broker.
test: $(STAMP) tools  ## the whole suite, integration tests on a real broker included
	$(BIN)/pytest -q -rfEs -n 2

test-unit: $(STAMP) tools
	$(BIN)/pytest -q -rfEs -n 2 tests/unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)  ## throughput, latency at 5 and 50 a second, register scale, restart: about an hour
	$(BIN)/python -m tests.bench.pipeline
	$(BIN)/python -m tests.bench.latency
	$(BIN)/python -m tests.bench.register_scale
	$(BIN)/python -m tests.bench.restart

soak: $(STAMP)  ## two simulated years on an injected clock (~15 min), then 30 real minutes at 20 a second
	$(BIN)/python -m tests.bench.soak
	$(BIN)/python -m tests.bench.soak_realtime

variations: $(STAMP)  ## the variations table: dev set (if ../shared) and simulate seeds 11-13
	$(BIN)/python -m tests.bench.variations

schemas: $(STAMP)  ## regenerate schemas/json from the models
	$(BIN)/python -m schemas.export

lock: $(STAMP)  ## pin the image's dependencies, with hashes, from pyproject.toml
	$(BIN)/uv pip compile pyproject.toml --generate-hashes --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --no-header --quiet -o deploy/requirements.lock.new
	{ sed -n 1,2p deploy/requirements.lock; cat deploy/requirements.lock.new; } > deploy/requirements.lock.tmp
	mv deploy/requirements.lock.tmp deploy/requirements.lock && rm deploy/requirements.lock.new

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
