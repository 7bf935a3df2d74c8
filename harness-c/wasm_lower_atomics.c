// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * wasm-lower-atomics: rewrite the parser module's i32.atomic.load
 * instructions so that Debian 12's wasm2c (wabt 1.0.32) accepts the module.
 *
 * Why: parser.wasm is built with --enable threads because its record walker
 * reads each ring buffer header with i32.atomic.load (the acquire pairing with
 * the kernel's commit xchg). wabt 1.0.32's wasm2c implements no part of the
 * threads proposal: without --enable-threads it fails on the opcode
 * ("unexpected opcode: 0xfe 0x10"), and with it, it refuses outright
 * ("wasm2c currently only supports a limited set of features").
 *
 * What: each `i32.atomic.load memarg` (0xfe 0x10 memarg) becomes
 * `i64.load32_u memarg; i32.wrap_i64` (0x35 memarg 0xa7): the same bytes read,
 * the same i32 on the stack, and exactly the same length, so no section or
 * function body size changes and nothing else in the module moves. The build
 * script checks that the original module has no i64.load32_u of its own, so
 * after this rewrite every i64.load32_u in the generated C is a former atomic
 * load, and it redefines that one load function as a C11 acquire load
 * (wasm2c_acquire_load.h). The ordering guarantee of the original module is
 * therefore kept, not dropped.
 *
 * Usage: wasm-lower-atomics IN.wasm OUT.wasm OFFSET...
 * OFFSETs (hex, as printed by `wasm-objdump -d`) name the instructions; each
 * must start with 0xfe 0x10, else nothing is written and the exit status is 1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX_THREADS 0xfe
#define OP_I32_ATOMIC_LOAD 0x10
#define OP_I64_LOAD32_U 0x35
#define OP_I32_WRAP_I64 0xa7

/* Length of the unsigned LEB128 at p (at most 5 bytes for a u32), or 0. */
static size_t uleb_len(const unsigned char *p, size_t avail)
{
	for (size_t i = 0; i < avail && i < 5; i++)
		if (!(p[i] & 0x80))
			return i + 1;
	return 0;
}

static unsigned char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
			errno = EIO;
		}
		*len = (size_t)n;
	}
	fclose(f);
	return buf;
}

int main(int argc, char **argv)
{
	unsigned char *buf;
	size_t len = 0;
	FILE *out;
	int status = 1;

	if (argc < 4) {
		fprintf(stderr, "usage: wasm-lower-atomics IN.wasm OUT.wasm "
				"OFFSET...\n");
		return 2;
	}
	buf = read_file(argv[1], &len);
	if (!buf) {
		fprintf(stderr, "wasm-lower-atomics: %s: %s\n", argv[1],
			strerror(errno));
		return 1;
	}
	if (len < 8 || memcmp(buf, "\0asm", 4) != 0) {
		fprintf(stderr, "wasm-lower-atomics: %s is not a wasm module\n",
			argv[1]);
		goto out;
	}
	for (int i = 3; i < argc; i++) {
		char *end;
		unsigned long off = strtoul(argv[i], &end, 16);
		size_t align_len, offset_len, memarg;

		if (*end || end == argv[i] || off + 2 >= len) {
			fprintf(stderr, "wasm-lower-atomics: bad offset '%s'\n",
				argv[i]);
			goto out;
		}
		if (buf[off] != PREFIX_THREADS ||
		    buf[off + 1] != OP_I32_ATOMIC_LOAD) {
			fprintf(stderr, "wasm-lower-atomics: offset 0x%lx holds "
					"0x%02x 0x%02x, not i32.atomic.load\n",
				off, buf[off], buf[off + 1]);
			goto out;
		}
		align_len = uleb_len(buf + off + 2, len - off - 2);
		offset_len = align_len ? uleb_len(buf + off + 2 + align_len,
						  len - off - 2 - align_len)
				       : 0;
		if (!align_len || !offset_len) {
			fprintf(stderr, "wasm-lower-atomics: bad memarg at "
					"0x%lx\n", off);
			goto out;
		}
		/* fe 10 <memarg>  ->  35 <memarg> a7: same length. */
		memarg = align_len + offset_len;
		buf[off] = OP_I64_LOAD32_U;
		memmove(buf + off + 1, buf + off + 2, memarg);
		buf[off + 1 + memarg] = OP_I32_WRAP_I64;
	}
	out = fopen(argv[2], "wb");
	if (!out || fwrite(buf, 1, len, out) != len) {
		fprintf(stderr, "wasm-lower-atomics: %s: %s\n", argv[2],
			strerror(errno));
		if (out)
			fclose(out);
		remove(argv[2]);
		goto out;
	}
	if (fclose(out) != 0) {
		fprintf(stderr, "wasm-lower-atomics: %s: %s\n", argv[2],
			strerror(errno));
		remove(argv[2]);
		goto out;
	}
	status = 0;
out:
	free(buf);
	return status;
}
