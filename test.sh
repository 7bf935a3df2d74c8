#!/usr/bin/env bash
# Set everything up on a fresh Debian 12 machine (as root), then run every
# test: fmt/lint/types, unit, property, fuzz, real-kernel, C harness and VMs.
# Ends with "N passed, N failed"; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
make setup
exec node_modules/.bin/deno task test "$@"
