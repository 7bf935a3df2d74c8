// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "rodata_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/btf.h>

#define CONFIG_VAR_NAME "config"

static struct bpf_map *find_rodata_map(struct bpf_object *obj)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj) {
		const char *name = bpf_map__name(map);
		size_t len = strlen(name);

		/* libbpf names it "<object>.rodata", e.g. "profiler.rodata". */
		if (bpf_map__is_internal(map) && len >= 7 &&
		    strcmp(name + len - 7, ".rodata") == 0)
			return map;
	}
	return NULL;
}

/* Offset of the variable in the .rodata datasec, or a negative errno. */
static long find_config_offset(struct bpf_object *obj, __u32 *size)
{
	const struct btf *btf = bpf_object__btf(obj);
	const struct btf_type *sec;
	const struct btf_var_secinfo *vs;
	__s32 id;

	if (!btf)
		return -ENOENT;
	id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
	if (id < 0)
		return -ENOENT;
	sec = btf__type_by_id(btf, id);
	vs = btf_var_secinfos(sec);
	for (__u16 i = 0; i < btf_vlen(sec); i++, vs++) {
		const struct btf_type *var = btf__type_by_id(btf, vs->type);
		const char *name = btf__name_by_offset(btf, var->name_off);

		if (name && strcmp(name, CONFIG_VAR_NAME) == 0) {
			*size = vs->size;
			return vs->offset;
		}
	}
	return -ENOENT;
}

int set_rodata_config(struct bpf_object *obj, const struct profiler_config *cfg)
{
	struct bpf_map *map = find_rodata_map(obj);
	const void *initial;
	size_t sec_size;
	__u32 var_size = 0;
	long off;
	void *copy;
	int err;

	if (!map) {
		fprintf(stderr, "BPF object %s has no .rodata map: was it built "
				"from streamprof's sources?\n",
			bpf_object__name(obj));
		return -ENOENT;
	}
	off = find_config_offset(obj, &var_size);
	if (off < 0) {
		fprintf(stderr, "BPF object %s: no BTF for variable '%s' in "
				".rodata (built without -g?)\n",
			bpf_object__name(obj), CONFIG_VAR_NAME);
		return (int)off;
	}
	if (var_size != sizeof(*cfg)) {
		fprintf(stderr, "BPF object %s: '%s' is %u bytes, this program "
				"expects %zu: object and harness built from "
				"different profile_event.h\n",
			bpf_object__name(obj), CONFIG_VAR_NAME, var_size,
			sizeof(*cfg));
		return -EINVAL;
	}
	initial = bpf_map__initial_value(map, &sec_size);
	if (!initial || (size_t)off + var_size > sec_size) {
		fprintf(stderr, "BPF object %s: .rodata is smaller than the "
				"'%s' variable it declares\n",
			bpf_object__name(obj), CONFIG_VAR_NAME);
		return -EINVAL;
	}
	/*
	 * Patch a copy and hand it back with set_initial_value rather than
	 * casting away the const of libbpf's view of the section.
	 */
	copy = malloc(sec_size);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, initial, sec_size);
	memcpy((char *)copy + off, cfg, sizeof(*cfg));
	err = bpf_map__set_initial_value(map, copy, sec_size);
	free(copy);
	if (err) {
		fprintf(stderr, "BPF object %s: cannot set .rodata: %s\n",
			bpf_object__name(obj), strerror(-err));
		return err;
	}
	return 0;
}
