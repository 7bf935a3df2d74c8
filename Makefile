# streamprof: one entry point for setting up, building, running and testing.
#
#   make run    set everything up, then profile this machine (the main job)
#   make test   set everything up, then run every test (what CI runs)
#
# Every target that needs a tool installs it first (setup is idempotent), so
# both work on a fresh Debian 12 machine as root.

SHELL := /bin/bash
DENO := node_modules/.bin/deno
ASC := node_modules/.bin/asc
CLANG ?= clang
BPF_ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

APT_PACKAGES := clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool gcc make \
	wabt qemu-system-x86 qemu-system-arm busybox-static cpio xz-utils zstd \
	util-linux elfutils libdw1 linux-perf chromium libc6-dbg binutils iproute2 \
	gcc-aarch64-linux-gnu gpgv debian-archive-keyring

.PHONY: all setup setup-apt setup-npm build build-wasm build-ebpf build-harness \
	build-fixtures build-pyroscope run test check bench validate clean

all: build

## setup: install Debian packages and npm packages, then build everything
setup: setup-apt setup-npm build

setup-apt:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "setup: installing Debian packages:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	else echo "setup: Debian packages present"; fi

setup-npm: node_modules/.package-lock.json

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

## build: the .wasm parser, the BPF object, the C harness, the test fixtures
## and the Pyroscope server the agent's tests push to (cached once built)
build: build-wasm build-ebpf build-harness build-fixtures build-pyroscope

build-wasm: parser-wasm/build/parser.wasm

parser-wasm/build/parser.wasm: $(wildcard parser-wasm/assembly/*.ts) parser-wasm/asconfig.json | setup-npm
	$(ASC) parser-wasm/assembly/index.ts --config parser-wasm/asconfig.json --target release

build-ebpf: ebpf/build/profiler.bpf.o ebpf/build/stress.bpf.o

# <linux/bpf.h> includes <asm/types.h>, which Debian keeps under the multiarch
# directory that clang -target bpf does not search by itself.
ebpf/build/%.bpf.o: ebpf/%.bpf.c ebpf/profile_event.h ebpf/event_maps.bpf.h
	@mkdir -p ebpf/build
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(BPF_ARCH) \
		-I/usr/include/$(shell gcc -dumpmachine) -Iebpf -c $< -o $@

build-harness:
	$(MAKE) -C harness-c

build-fixtures:
	$(MAKE) -s -C tests/fixtures

# Grafana Pyroscope from the Go module proxy, built once into the user's
# cache (fleet/pyroscope/build.sh skips the build when the cached binary
# matches). It needs Go >= 1.24: the machine's own Go.
build-pyroscope:
	fleet/pyroscope/build.sh >/dev/null

## run: the main job, profile the whole machine for 10 seconds
run: setup
	$(DENO) task profile --duration 10s

## test: every test: format, lint, types, unit, property, fuzz, real kernel, VMs
test: setup
	$(DENO) task test

check: setup-npm
	$(DENO) task check

bench: setup
	$(DENO) task bench

validate: setup
	$(DENO) task validate

clean:
	rm -rf parser-wasm/build ebpf/build harness-c/build tests/fixtures/build
