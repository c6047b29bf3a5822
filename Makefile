# pxcri: `make run` and `make check` do everything on a fresh Debian 12 machine.
PREFIX ?= /usr/local
DESTDIR ?=
BUILD ?= build
PYTHON ?= /usr/bin/python3
MESON_OPTS ?=

# Everything pxcri needs to build, run and test, from Debian 12.
DEPS_BUILD = meson ninja-build pkg-config gcc libc6-dev libjansson-dev libcurl4-openssl-dev libssl-dev libarchive-dev libsqlite3-dev lxc-dev \
	libnghttp2-dev libuv1-dev libprotobuf-c-dev protobuf-c-compiler libwslay-dev
DEPS_RUN = crun runc busybox-static lxc zstd conmon containernetworking-plugins iptables
DEPS_TEST = libcmocka-dev python3 python3-pytest containerd conmon umoci skopeo iproute2 hyperfine docker-registry apache2-utils openssl \
	python3-grpcio python3-protobuf protobuf-compiler sqlite3 python3-websocket gcovr
# Only for `make fuzz` (libFuzzer).
DEPS_FUZZ = clang
# Only for `make deb` (with DEPS_BUILD) and `make check-package` (docs/install.md).
DEPS_DEB = debhelper dpkg-dev help2man libcmocka-dev zlib1g-dev
DEPS_PACKAGE_TEST = debootstrap equivs systemd umoci busybox-static python3-pytest python3-grpcio python3-protobuf protobuf-compiler
DEB_OUT ?= build-deb
# Packages `make deps` may remove, when you accept that (scripts/deps).
DEPS_ALLOW_REMOVE ?=
APT = DEBIAN_FRONTEND=noninteractive apt-get

.PHONY: all deps build run check unit integration bench install clean asan asan-cri fuzz deb check-package coverage

all: build

# Installs what is missing; never removes, replaces or downgrades a package
# (apt-get -s first; on Proxmox VE lxc-pve-dev instead of lxc-dev): scripts/deps.
deps:
	@DEPS_ALLOW_REMOVE="$(DEPS_ALLOW_REMOVE)" ./scripts/deps $(DEPS_BUILD) $(DEPS_RUN) $(DEPS_TEST)

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

# The main job on the built-in default config: a demo container through pxcri,
# then pxcrid (left running) and a pod through it with a real CRI client.
run: deps build
	./scripts/demo $(BUILD)/pxcri
	./scripts/cri-demo $(BUILD)

check: deps build
	./scripts/host-setup
	meson test -C $(BUILD) --suite unit --print-errorlogs
	PXCRI_BIN=$(abspath $(BUILD))/pxcri PXCRI_IMAGE_PULL=$(abspath $(BUILD))/tests/unit/image/image-pull \
		$(PYTHON) -m pytest -q tests/integration

unit: build
	meson test -C $(BUILD) --suite unit --print-errorlogs

integration: build
	./scripts/host-setup
	PXCRI_BIN=$(abspath $(BUILD))/pxcri PXCRI_IMAGE_PULL=$(abspath $(BUILD))/tests/unit/image/image-pull \
		$(PYTHON) -m pytest -q tests/integration

# Unit tests under AddressSanitizer and UndefinedBehaviorSanitizer.
asan:
	[ -f $(BUILD)-asan/build.ninja ] || meson setup $(BUILD)-asan -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C $(BUILD)-asan
	meson test -C $(BUILD)-asan --suite unit --print-errorlogs

# pxcrid built with ASan+UBSan (from `make asan`'s tree) under every integration test
# that runs pxcrid (test_cri_*.py; one crash round); a sanitizer report in its log
# fails the test (tests/integration/cri_env.py).
CRI_TESTS = $(sort $(wildcard tests/integration/test_cri_*.py))
asan-cri: build
	[ -f $(BUILD)-asan/build.ninja ] || meson setup $(BUILD)-asan -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C $(BUILD)-asan pxcrid
	./scripts/host-setup
	PXCRI_BIN=$(abspath $(BUILD))/pxcri PXCRID_BIN=$(abspath $(BUILD))-asan/pxcrid PXCRI_CRASH_RUNS=1 \
		$(PYTHON) -m pytest -q $(CRI_TESTS)

# Coverage (docs/development.md, "Coverage"): gcc --coverage at -Og in $(BUILD)-coverage,
# the unit tests and the integration suite against its programs (pxcrid, pxcri-image and
# pxcri-init are found next to pxcri; pxcri-init-cov for the tests that run it on the
# host), then gcovr: $(BUILD)-coverage/coverage/index.html and a table per module.
# The report is made also when a test fails; the target fails then.
COVERAGE_TESTS ?= tests/integration
coverage: deps
	[ -f $(BUILD)-coverage/build.ninja ] || meson setup $(BUILD)-coverage -Db_coverage=true -Doptimization=g -Dwerror=true
	ninja -C $(BUILD)-coverage
	find $(BUILD)-coverage -name '*.gcda' -delete
	./scripts/host-setup
	cov=$(abspath $(BUILD))-coverage; rc=0; \
	meson test -C $$cov --no-rebuild --suite unit --print-errorlogs || rc=1; \
	PXCRI_BIN=$$cov/pxcri PXCRI_IMAGE_PULL=$$cov/tests/unit/image/image-pull PXCRI_INIT_BIN=$$cov/src/init/pxcri-init-cov \
		PXCRI_PVE_CLIENT=$$cov/tests/unit/proxmox/pve-client $(PYTHON) -m pytest -q $(COVERAGE_TESTS) || rc=1; \
	mkdir -p $$cov/coverage && \
	gcovr -r . --object-directory $$cov --filter src/ --exclude-unreachable-branches -j $$(nproc) --html-title pxcri \
		--html-details $$cov/coverage/index.html --json-summary $$cov/coverage/summary.json && \
	$(PYTHON) scripts/coverage-summary $$cov/coverage/summary.json || rc=1; \
	exit $$rc

bench: deps build
	./scripts/host-setup
	PXCRI=$(abspath $(BUILD))/pxcri bench/cli-overhead
	PXCRI_IMAGE_PULL=$(abspath $(BUILD))/tests/unit/image/image-pull bench/image-pull
	PXCRI=$(abspath $(BUILD))/pxcri bench/lxc-lifecycle
	PXCRI=$(abspath $(BUILD))/pxcri bench/proxmox-lifecycle
	PXCRID=$(abspath $(BUILD))/pxcrid PXCRI=$(abspath $(BUILD))/pxcri bench/cri
	PXCRID=$(abspath $(BUILD))/pxcrid bench/cri-exec
	PXCRID=$(abspath $(BUILD))/pxcrid PXCRI=$(abspath $(BUILD))/pxcri bench/proxmox-pods

# libFuzzer targets (tests/fuzz/README.md), FUZZ_SECONDS each, seeded from tests/fuzz/corpus/<name>.
FUZZ_TARGETS ?= ref manifest auth tar pve_answer pve_map config cri_methods rpc_frames
FUZZ_SECONDS ?= 60
fuzz:
	dpkg-query -W -f='$${Status}\n' $(DEPS_FUZZ) 2>/dev/null | grep -q '^install ok installed' || \
		($(APT) update -q && $(APT) install -y --no-install-recommends $(DEPS_FUZZ))
	[ -f $(BUILD)-fuzz/build.ninja ] || CC=clang meson setup $(BUILD)-fuzz -Dfuzz=true
	ninja -C $(BUILD)-fuzz $(addprefix tests/fuzz/fuzz_,$(FUZZ_TARGETS))
	for t in $(FUZZ_TARGETS); do \
		mkdir -p $(BUILD)-fuzz/corpus/$$t tests/fuzz/corpus/$$t && \
		$(BUILD)-fuzz/tests/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=16384 \
			$(BUILD)-fuzz/corpus/$$t tests/fuzz/corpus/$$t || exit 1; \
	done

install: $(BUILD)/build.ninja
	meson configure $(BUILD) -Dprefix=$(PREFIX)
	ninja -C $(BUILD)
	DESTDIR=$(DESTDIR) meson install -C $(BUILD) --no-rebuild

# pxcri_<version>_<arch>.deb in $(DEB_OUT)/, built by dpkg-buildpackage in a copy
# under /tmp (scripts/build-deb, docs/install.md).
deb:
	@DEPS_ALLOW_REMOVE="$(DEPS_ALLOW_REMOVE)" ./scripts/deps $(DEPS_BUILD) $(DEPS_DEB)
	./scripts/build-deb $(DEB_OUT)

# The package in fresh Debian 12 roots: with stand-ins of Proxmox VE's packages,
# plain, and upgraded under a running pod (docs/install.md, "The package tests").
check-package:
	@DEPS_ALLOW_REMOVE="$(DEPS_ALLOW_REMOVE)" ./scripts/deps $(DEPS_BUILD) $(DEPS_DEB) $(DEPS_PACKAGE_TEST)
	./scripts/host-setup
	./tests/package/run $(DEB_OUT)

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-fuzz $(BUILD)-coverage
