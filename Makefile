# kerasc: `make demo` and `make test` work on a fresh machine; everything they need is installed here.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.kerasc-installed
# (the C libraries are only Recommends of the compilers: named so an apt without recommends installs them;
# python3-venv and python3-dev: `make setup`'s venv and the cffi builds with Debian's python3)
APT_PACKAGES := clang cmake valgrind gcc-arm-none-eabi libnewlib-arm-none-eabi gcc-arm-linux-gnueabihf qemu-user \
	qemu-system-arm chromium g++ libeigen3-dev gcc-aarch64-linux-gnu libc6-dev libc6-dev-armhf-cross \
	libc6-dev-arm64-cross python3-venv python3-dev gcc-avr avr-libc simavr
PYTEST_ARGS ?=

.PHONY: all setup deps demo firmware docs docs-assets test clean

all: test

# Debian packages for the C side (compilers, ARM and AVR cross toolchains, qemu and simavr, the Eigen headers of the C++
# benchmark yardstick) and headless Chromium (the verify report is checked in a real browser).
# Installed when run as root with apt available; otherwise the tests that need them say so (and fail
# under CI=true).
deps:
	@missing=""; \
	for t in clang cmake valgrind g++ arm-none-eabi-gcc arm-linux-gnueabihf-gcc aarch64-linux-gnu-gcc qemu-arm \
	    qemu-aarch64 qemu-system-arm chromium avr-gcc simavr; do \
	  command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	[ -f /usr/include/eigen3/Eigen/Dense ] || missing="$$missing eigen3"; \
	for d in arm-linux-gnueabihf aarch64-linux-gnu; do \
	  [ -f /usr/$$d/include/stdio.h ] || missing="$$missing $$d-libc"; done; \
	if [ -z "$$missing" ]; then echo "deps: C toolchains and chromium present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "deps: installing$$missing (apt)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) >/dev/null) \
	    || echo "deps: WARNING: apt-get install failed; tests needing$$missing will report it"; \
	else echo "deps: WARNING: missing$$missing and not root with apt; tests needing them will report it"; fi

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[verify,test,report]'
	touch $(STAMP)

setup: deps $(STAMP)

demo: setup
	$(PY) examples/demo/run_demo.py

# The demo model in Cortex-M4F firmware: build it, print its flash/RAM/stack figures, and run it
# and its on-target self-test under QEMU (MPS2 AN386 board).
FW_BUILD := build/firmware
firmware: setup
	cmake -S examples/firmware -B $(FW_BUILD) -DCMAKE_TOOLCHAIN_FILE=$(CURDIR)/examples/firmware/arm-none-eabi-cortex-m4f.cmake \
	  -DPython3_EXECUTABLE=$(abspath $(PY)) -DFIRMWARE_SEMIHOSTING=ON -DFIRMWARE_SELFTEST=ON
	cmake --build $(FW_BUILD)
	cmake --build $(FW_BUILD) --target size_report
	qemu-system-arm -M mps2-an386 -nographic -semihosting -kernel $(FW_BUILD)/activity_fw.elf
	qemu-system-arm -M mps2-an386 -nographic -semihosting -kernel $(FW_BUILD)/activity_selftest_fw.elf

# The supported-layers table of docs/layers.md from the layer registry (a test fails when it is stale).
# The site itself: `$(PY) -m mkdocs serve` (make test builds it with --strict).
docs: setup
	$(PY) -m kerasc.docs --write docs/layers.md

# docs/img/report.png (the verify report of the demo, in headless Chromium) and docs/inspect.txt.
docs-assets: setup
	$(PY) tools/docs_assets.py

test: setup
	$(PY) -m pytest -n 2 --dist loadfile --durations=15 $(PYTEST_ARGS)

clean:
	rm -rf build demo_out .pytest_cache
