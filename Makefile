# Joey — build, demo and test. `make demo` and `make test` work on a fresh Debian machine:
# they install what is missing with apt-get first.

SWIFT ?= swift
JOEY := .build/debug/joey
# The release sentry: one static position-independent executable. No dynamic loader runs at
# each start (its relocations and symbol lookups were about 2 ms of every `joey do`), nothing
# needs installing beside it, and its load address stays random. glibc's static-pie start
# refuses a RUNPATH (--disable-local-rpath) and gold cannot link one (bfd does).
# `joey --version` names the commit it was built from (CJoey's joey_build_commit).
# Generic types' metadata is reached through accessor functions, not by demangling a name
# at first use: that checked each generic requirement by scanning every protocol conformance
# in the binary (some 3,800) once per new type: `joey do /bin/true` takes 0.92x the time without.
# The start-up's own relocations are packed (DT_RELR: 9 KB instead of 1 MB of RELA entries).
COMMIT := $(shell git describe --always --dirty --abbrev=12 2>/dev/null || echo unknown)
RELEASE_BUILD = $(SWIFT) build -c release --static-swift-stdlib --disable-local-rpath \
	-Xswiftc -static-executable -Xswiftc -use-ld=bfd -Xswiftc -Xclang-linker -Xswiftc -static-pie \
	-Xswiftc -Xfrontend -Xswiftc -disable-concrete-type-metadata-mangled-name-accessors \
	-Xlinker -z -Xlinker pack-relative-relocs \
	-Xcc '-DJOEY_COMMIT="$(COMMIT)"'

APT_PACKAGES := libseccomp-dev libcap-dev busybox-static gcc libc6-dev make python3 strace tmux runsc podman sqlite3 trinity \
	curl nginx-light redis-server redis-tools postgresql nodejs util-linux apache2-utils libpython3.11-testsuite python3-psutil procps \
	docker.io

.PHONY: all deps build release install demo test test-podman test-runtimes test-servers test-security soak cpython-tests go-tests syscalls compat compat-update bench compare ltp clean

all: build

# Installs those of the Debian packages $(1) that are missing.
define apt_install
	@missing=""; for p in $(1); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
endef

# Installs the Debian packages Joey and its tests need, only when some are missing.
deps:
	$(call apt_install,$(APT_PACKAGES))

build: deps
	$(SWIFT) build

# The release sentry, .build/release/joey: the one to run and measure.
release: deps
	$(RELEASE_BUILD)

# Installs the release sentry as $(PREFIX)/bin/joey (a static executable: it needs nothing
# else on the machine, not even the Swift toolchain).
PREFIX ?= /usr/local
install: release
	install -D -m 755 .build/release/joey $(DESTDIR)$(PREFIX)/bin/joey

# Builds Joey and runs real programs in a sandbox.
demo: build
	$(JOEY) do -- /bin/sh -c 'echo hello; ls /; id; uname -r'
	$(JOEY) do -- /bin/busybox sh -c 'echo "pid $$$$ in the sandbox"; echo change > /etc/joey-demo; cat /etc/joey-demo'
	@test ! -e /etc/joey-demo && echo "the host's /etc is untouched"

# The whole suite, as CI runs it: unit and end-to-end tests on each platform (JOEY_PLATFORM
# is the default `joey` picks; systrap also with syscall patching off; kvm where /dev/kvm
# is usable, else a line saying why it is skipped), then the
# compatibility suite (which fails on any case that passed before and fails now) with a
# release sentry: its ~2,100 cases on five Joey runners (four where kvm cannot run) and psutil's tests take several
# times longer with the debug one.
test: deps syscalls
	$(SWIFT) build --build-tests
	JOEY_PLATFORM=systrap $(SWIFT) test
	JOEY_PLATFORM=systrap JOEY_SYSCALL_PATCHING=0 $(SWIFT) test
	JOEY_PLATFORM=ptrace $(SWIFT) test
	@if why=$$($(JOEY) do --platform=kvm -- /bin/true 2>&1); then JOEY_PLATFORM=kvm $(SWIFT) test; \
	else echo "swift test on kvm: SKIP: the kvm platform cannot run here: $$why"; fi
	Tests/podman/podman-test.sh $(JOEY)
	Tests/runtimes/runtimes-test.sh $(JOEY)
	Tests/servers/servers-test.sh $(JOEY)
	Tests/security/security-test.sh $(JOEY)
	python3 Tests/cpython/run.py --short --joey $(JOEY)
	$(RELEASE_BUILD)
	Tests/release/release-test.sh .build/release/joey
	python3 compat/run.py --no-reference --joey .build/release/joey

# podman running containers on Joey (also part of `make test`).
test-podman: build
	Tests/podman/podman-test.sh $(JOEY)

# docker (a private dockerd) and containerd's ctr running containers on Joey (also part of `make test`).
test-runtimes: build
	Tests/runtimes/runtimes-test.sh $(JOEY)

# Servers in a sandbox on each platform: python, node, nginx, redis, postgres (also part of `make test`).
test-servers: build
	Tests/servers/servers-test.sh $(JOEY)

# The sandbox holds, checked from the host: the sentry's confinement, its stubs, the allow-list (also part of `make test`).
test-security: build
	Tests/security/security-test.sh $(JOEY)

# Trinity fuzzing the sandbox for SOAK_MINUTES per platform (default 30), the host compared before and after.
soak: build
	SOAK_MINUTES=$(SOAK_MINUTES) Tests/security/soak.sh $(JOEY)
SOAK_MINUTES ?= 30

# CPython's own test modules natively and in a sandbox on each platform (a subset runs in `make test`).
cpython-tests: build
	python3 Tests/cpython/run.py --joey $(JOEY)

# Go's standard library tests natively and in a sandbox on each platform (installs golang-go and gdb;
# not part of `make test`: with the debug build `net` alone takes about 7 minutes a platform).
go-tests: build
	$(call apt_install,golang-go gdb)
	python3 Tests/go/run.py --joey $(JOEY)

# Generated files must match their sources.
syscalls:
	python3 syscalls/generate.py --check

clean:
	rm -rf .build

# The syscall compatibility suite: natively, under Joey, under runsc when installed.
compat: build
	python3 compat/run.py

# Accept this run's results as the new expected set (after a deliberate change).
compat-update: build
	python3 compat/run.py --update

# Benchmarks (release build): native, Joey on each platform and runsc, interleaved; writes
# bench/RESULTS.md, bench/results.json and bench/ratios.svg. Never part of `make test`.
bench: deps
	$(RELEASE_BUILD)
	python3 bench/run.py

# Joey beside gVisor and a MicroVM (QEMU's microvm machine), measured in one run:
# docs/COMPARISON.md, its charts and docs/compare.json. About 20 minutes here;
# COMPARE_QUICK=1 is a smaller run of every section (under 3). Needs root.
COMPARE_PACKAGES := qemu-system-x86 runc linux-perf
compare: deps
	$(call apt_install,$(COMPARE_PACKAGES))
	$(RELEASE_BUILD)
	python3 compare/run.py

# LTP's system call tests natively, in Joey and in gVisor (bench/ltp/RESULTS.md): an hour or
# more, not part of `make test`. LTP is fetched at a pinned commit and built in .ltp.
LTP_COMMIT := 695827725f4fc14fe583043127e0335c29bbd52d
LTP_APT := git autoconf automake m4 pkgconf bc libaio-dev libnuma-dev
ltp: deps
	@missing=""; for p in $(LTP_APT); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); $$SUDO apt-get install -y -qq $$missing; fi
	test -d .ltp || git clone -q https://github.com/linux-test-project/ltp.git .ltp
	cd .ltp && git checkout -q $(LTP_COMMIT) && { test -f configure || $(MAKE) -s autotools; } && { test -f config.status || ./configure -q; }
	$(MAKE) -s -C .ltp/lib && $(MAKE) -s -C .ltp/testcases/kernel/syscalls
	for d in ipc/msgstress ipc/pipeio security/dirtyc0w security/dirtyc0w_shmem security/dirtypipe security/prot_hsymlinks; do \
		$(MAKE) -s -C .ltp/testcases/kernel/$$d || exit 1; done
	$(RELEASE_BUILD)
	python3 bench/ltp/run.py --ltp .ltp
