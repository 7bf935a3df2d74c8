/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Included by the generated build/wasm2c/parser.c in place of wasm2c's own
 * `DEFINE_LOAD(i64_load32_u, u32, u64, u64)` (see wasm2c/generate.sh).
 *
 * wasm_lower_atomics.c rewrote the module's only atomic instruction,
 * `i32.atomic.load`, into `i64.load32_u; i32.wrap_i64` because wabt 1.0.32's
 * wasm2c has no threads support; the module had no i64.load32_u before, so
 * every call of this function is a former atomic load of a ring buffer record
 * header. Defining it as a C11 acquire load restores what the atomic load
 * promised: when the walker sees a header without the BUSY bit, the payload it
 * reads next is the one the kernel committed with its xchg (a plain load would
 * let the compiler, or an arm64 CPU, read the payload first).
 *
 * On x86_64 an acquire load is an ordinary mov; only compiler reordering is
 * forbidden. The address is 4-byte aligned: ring records are 8-aligned, and
 * the walker only reads headers at 8-byte steps from an aligned start.
 */
static inline u64 i64_load32_u(wasm_rt_memory_t* mem, u64 addr) {
  MEMCHECK(mem, addr, u32);
  return (u64)__atomic_load_n((const u32*)(const void*)&mem->data[addr],
                              __ATOMIC_ACQUIRE);
}
