# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# Sourced by the wasm2c/ build scripts after they set $script (their name,
# for messages) and $scratch (the output they write before moving it into
# place). `fail MESSAGE` says "$script: MESSAGE" on stderr, removes the
# scratch output and exits 1, so a failed step leaves nothing half-written
# where make would take it for a finished target.

fail() {
	echo "$script: $*" >&2
	rm -rf "$scratch"
	exit 1
}
