#!/usr/bin/env bash
# Set everything up on a fresh Debian 12 machine (as root), then run the main
# job: profile this machine for 10 seconds. Extra arguments go to `profile`.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
make setup
exec node_modules/.bin/deno task profile --duration 10s "$@"
