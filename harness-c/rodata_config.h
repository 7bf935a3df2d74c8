/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Writing struct profiler_config into a BPF object's .rodata before load.
 *
 * Both profiler.bpf.o and stress.bpf.o keep their settings in a
 * `const volatile struct profiler_config config` so the verifier sees them as
 * constants. We locate that variable through the object's BTF instead of
 * assuming it sits at offset 0, because the compiler is free to put other
 * read-only data (string literals, tables) in the same section.
 */
#ifndef STREAMPROF_RODATA_CONFIG_H
#define STREAMPROF_RODATA_CONFIG_H

#include <bpf/libbpf.h>

#include "profile_event.h"

/*
 * Set the "config" variable of obj's .rodata map to *cfg. Must be called
 * after bpf_object__open and before bpf_object__load. Returns 0 or a
 * negative errno, having printed why on stderr.
 */
int set_rodata_config(struct bpf_object *obj, const struct profiler_config *cfg);

#endif /* STREAMPROF_RODATA_CONFIG_H */
