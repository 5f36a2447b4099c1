# Every target sets itself up: a venv from pyproject.toml and the Debian
# packages the lab needs. Nothing is downloaded at run time.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEBS   := nftables iproute2 ethtool tcpdump curl wrk apache2-utils openssl haproxy tmux

.PHONY: setup debs test demo lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

debs:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "not root: missing Debian packages$$missing (tests that need them will skip)"; fi; \
	fi

test: setup debs
	$(PY) -m pytest -q

# The basic lab with real clients and handoffs, then torn down (root); on
# p4sim, or on bmv2 with TARGET=bmv2 (needs p4c and simple_switch_grpc on PATH).
demo: setup debs
	$(PY) -m controller.lab.demo --target $(TARGET)

lint: setup
	$(VENV)/bin/ruff check p4sim controller tests bench
	$(VENV)/bin/mypy

clean:
	rm -rf build .pytest_cache .mypy_cache

# p4runtime-shell (PyPI 0.0.6) pins protobuf<3.21 and p4runtime 1.4.1, which
# cannot share a process with our protobuf 6 stack. It gets a venv of its own;
# tests/unit/test_p4rt_shell.py drives it as a third-party client in a subprocess.
P4RT_SHELL_VENV  := .venv-p4rt-shell
P4RT_SHELL_STAMP := $(P4RT_SHELL_VENV)/.installed

.PHONY: p4rt-shell-venv ptf-smoke

p4rt-shell-venv: $(P4RT_SHELL_STAMP)

$(P4RT_SHELL_STAMP):
	$(PYTHON) -m venv $(P4RT_SHELL_VENV)
	$(P4RT_SHELL_VENV)/bin/python -m pip install -q p4runtime-shell==0.0.6
	touch $@

test: p4rt-shell-venv

# PTF drives p4sim over veth pairs (root; skips with a reason otherwise).
ptf-smoke: setup debs
	$(PY) ptf_tests/run_smoke.py

# --- the forwarder P4 program (issue 4) --------------------------------------
# `make p4` writes the P4Info and p4sim's device config into build/, and with
# p4c on PATH also bmv2's JSON (with p4c's own P4Info) into build/bmv2/.
# `make ptf` runs the PTF suite on p4sim over veths (root), or on bmv2 with
# TARGET=bmv2 (needs p4c and simple_switch_grpc on PATH).
FORWARDER   := p4src/forwarder.p4
P4_SOURCES  := $(shell find p4src -name '*.p4')
TARGET      ?= p4sim

.PHONY: p4 ptf

p4: build/forwarder.p4info.txtpb $(if $(shell command -v p4c),build/bmv2/forwarder.json)

build/forwarder.p4info.txtpb build/forwarder.p4sim.bin &: $(P4_SOURCES) | setup
	@mkdir -p build
	$(VENV)/bin/p4sim compile $(FORWARDER) --p4info build/forwarder.p4info.txtpb \
	  --device-config build/forwarder.p4sim.bin

build/bmv2/forwarder.json: $(P4_SOURCES)
	@mkdir -p build/bmv2
	p4c --target bmv2 --arch v1model --p4runtime-files build/bmv2/forwarder.p4info.txtpb \
	  -o build/bmv2 $(FORWARDER)

ptf: setup debs
	$(PY) ptf_tests/run_ptf.py --target $(TARGET)

# --- the controller's gRPC API (issue 6) -------------------------------------
# Regenerates the Python modules of controller/proto/handoff.proto; they are
# committed, and tests/unit/test_controller_proto.py checks they match this output.
.PHONY: proto

proto: setup
	$(PY) -m grpc_tools.protoc -I . --python_out=. --pyi_out=. --grpc_python_out=. \
	  controller/proto/handoff.proto

# --- benchmarks and hostile input (issue 7) ----------------------------------
# `make bench` runs every bench/*.py through bench/run_all.py: JSON and PNG in
# bench/results/ (machine and commit stamped into each JSON), then
# docs/results.md from them, which opens with the p4sim / bmv2 ratios when
# p4c and simple_switch_grpc are on PATH (bench/forwarder_veth_pps.py and
# p4runtime_writes.py measure both targets in one run; run_all runs
# bench/handoff.py once per target). About 20 minutes on 2 cores; figures are
# only as good as the machine is quiet. `make bench-quick` is a smoke run into
# bench/results/quick/. `make fuzz` runs every fuzz suite FUZZ_SCALE times
# longer than `make test` does (FUZZ_SEED=n for another seed).
FUZZ_SCALE ?= 20
FUZZ_TESTS := tests/fuzz/test_fuzz_packets.py tests/fuzz/test_fuzz_p4runtime.py \
              tests/fuzz/test_fuzz_stf_and_source.py tests/fuzz/test_blob_fuzz.py

.PHONY: bench bench-quick fuzz

bench: setup
	$(PY) bench/run_all.py

bench-quick: setup
	$(PY) bench/run_all.py --quick

fuzz: setup
	FUZZ_SCALE=$(FUZZ_SCALE) $(PY) -m pytest -q -rxX -o timeout=3600 $(FUZZ_TESTS)

# --- the soak (issue 14) -------------------------------------------------------
# `make soak`: SOAK_CONNECTIONS (10,000) handed-off connections on the large
# topology, 0 B-20 MB both ways with SHA-256 checks, keep-alive and close,
# under link loss/duplication/reordering, an agent, the controller and the
# switch restarted and a policy reload; then leaks and RSS per process. The
# report goes to bench/results/soak.json. `make test` runs a bounded one
# (tests/system/test_soak.py, 300 connections, entries' idle timeout 20 s,
# no switch restart: that one still costs connections under load).
SOAK_CONNECTIONS ?= 10000

.PHONY: soak

soak: setup debs
	SOAK_CONNECTIONS=$(SOAK_CONNECTIONS) SOAK_IDLE_TIMEOUT_S=120 SOAK_TIMEOUT_S=21600 SOAK_SWITCH_RESTART=1 \
	  SOAK_REPORT=bench/results/soak.json $(PY) -m pytest -q -s -p no:randomly \
	  tests/system/test_soak.py
