# SPDX-License-Identifier: LGPL-2.1-or-later
#
# make demo   installs what is missing, builds, and runs the demo
# make check  installs what is missing, builds, and runs every test suite
#
# Both expect a Debian 12 machine and root (to install packages, and for the
# lab tests, which start real hosts in containers).

BUILD ?= build
comma := ,
# A second build with clang, AddressSanitizer and UndefinedBehaviorSanitizer:
# the unit, command-line and bus suites (the daemons included) run again
# under it, and the fuzz targets.
ASAN_BUILD ?= build-asan
FUZZ_SECONDS ?= 10
# make fuzz SECONDS=N: each fuzz target runs N seconds, and what it finds (new
# coverage, crashing inputs) is added to its corpus in tests/fuzz/
SECONDS ?= 600

# The suites each build must have run (more than zero tests each), or check fails.
SUITES = unit,cli,bus,lab,tools
ASAN_SUITES = unit,cli,bus,fuzz

PACKAGES = \
	meson ninja-build pkg-config gcc clang libclang-rt-14-dev \
	libsystemd-dev libjson-c-dev libcriterion-dev libgnutls28-dev libxml2-dev libxml2-utils libedit-dev \
	python3 groff-base man-db \
	dbus qemu-system-x86 qemu-utils qemu-block-extra systemd-container openssh-server gnutls-bin iproute2

.PHONY: all deps build build-asan check check-unit check-linux-guest fuzz demo bench clean install

all: build

deps:
	@missing=$$(for p in $(PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "make: missing packages (run as root to install): $$missing" >&2; exit 1; fi; \
		echo "Installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@# the Linux test guest's packages (Debian's kernel, busybox-static): downloaded into
	@# apt's cache, never installed; the build makes the guest from them (tests/guest/linux)
	@if [ "$$(id -u)" = 0 ] && [ "$$(uname -m)" = x86_64 ]; then \
		python3 tests/guest/linux/mkguest.py fetch >/dev/null; \
	fi

$(BUILD)/build.ninja:
	meson setup $(BUILD) -Dwerror=true -Dtests=enabled --prefix=/usr

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(ASAN_BUILD)/build.ninja:
	CC=clang meson setup $(ASAN_BUILD) -Dwerror=true -Dtests=enabled --prefix=/usr -Dfuzz=true \
		-Dfuzz_seconds=$(FUZZ_SECONDS) -Db_sanitize=address,undefined -Db_lundef=false

build-asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

# Old logs go first, so the summary never counts a previous run; the summary
# fails when a log is missing, empty or corrupt, or a suite ran no test.
check: build build-asan
	@rm -f $(BUILD)/meson-logs/testlog.* $(ASAN_BUILD)/meson-logs/testlog.*; \
	rc=0; \
	meson test -C $(BUILD) --no-rebuild --print-errorlogs || rc=1; \
	meson test -C $(ASAN_BUILD) --no-rebuild --print-errorlogs \
		$(foreach s,$(subst $(comma), ,$(ASAN_SUITES)),--suite $(s)) || rc=1; \
	python3 tools/test-summary.py $(BUILD)/meson-logs/testlog.json=$(SUITES) \
		$(ASAN_BUILD)/meson-logs/testlog.json=$(ASAN_SUITES) || rc=1; \
	exit $$rc

fuzz: build-asan
	KZ_FUZZ_SECONDS=$(SECONDS) KZ_FUZZ_GROW=1 meson test -C $(ASAN_BUILD) --no-rebuild --print-errorlogs \
		--suite fuzz --timeout-multiplier 0

# Only the lab tests that boot the Linux test guest (suite lab-linux; make check runs
# them too): under KVM, or TCG where KVM cannot boot a stock kernel (tests/guest/linux).
check-linux-guest: build
	meson test -C $(BUILD) --no-rebuild --print-errorlogs --suite lab-linux

check-unit: build
	meson test -C $(BUILD) --no-rebuild --print-errorlogs --suite unit --suite cli

demo: build
	tools/demo.sh $(BUILD)

bench: build
	meson test -C $(BUILD) --benchmark --no-rebuild --verbose

install: build
	meson install -C $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
