// streamprof's ProfileEvent parser: walks BPF ring buffer records, decodes
// and encodes ProfileEvents, and keeps an overwrite ring of recent events.
//
// Built with `--runtime stub`: there is no garbage collector and nothing here
// calls `new`. All memory is laid out once by `init()` (the only place that
// grows linear memory); after that no function allocates, so JS views of the
// memory stay valid for the life of the instance and the cost of every call
// is the cost of its loop. Hosts find the regions through the *Ptr() exports.

import {
  AG_CPU,
  AG_HASH,
  AG_KERNEL_STACK,
  AG_PID,
  AG_SAMPLES,
  AG_TID,
  AG_USER_STACK,
  AGG_ENTRY_SIZE,
  BUSY_BIT,
  CPU_STATE_SIZE,
  CS_COUNTS,
  CS_LAST_TS,
  CS_OUT_OF_ORDER,
  DISCARD_BIT,
  EVENT_SIZE,
  FLAG_FRAMES,
  FLAG_KERNEL_TRUNCATED,
  FLAG_USER_TRUNCATED,
  MAX_CPUS,
  OFF_CPU,
  OFF_FLAGS,
  OFF_KERNEL_STACK,
  OFF_PID,
  OFF_TID,
  OFF_TIMESTAMP,
  OFF_USER_STACK,
  RECORD_HEADER_SIZE,
  SE_FIRST,
  SE_FRAMES,
  SE_HASH,
  SE_PID,
  SINK_AGGREGATE,
  SINK_BATCH,
  SINK_RING,
  ST_BAD_CPU,
  ST_BATCH_WRITTEN,
  ST_CONSUMED,
  ST_CPUS_TOUCHED,
  ST_DISCARDED,
  ST_EVENTS,
  ST_KERNEL_EMPTY,
  ST_KERNEL_FAULT,
  ST_KERNEL_FRAMES,
  ST_KERNEL_RESOLVED,
  ST_KERNEL_TRUNCATED,
  ST_LONG,
  ST_MALFORMED,
  ST_NO_FRAMES,
  ST_OUT_OF_ORDER,
  ST_PAST_END,
  ST_SHORT,
  ST_STOP,
  ST_USER_EMPTY,
  ST_USER_FAULT,
  ST_USER_FRAMES,
  ST_USER_RESOLVED,
  ST_USER_TRUNCATED,
  STACK_DEPTH,
  STACK_ENTRY_SIZE,
  STACK_ID_EMPTY,
  STACK_ID_FAULT,
  STACK_ID_NOT_COLLECTED,
  STATS_WORDS,
  STOP_BATCH_FULL,
  STOP_BUSY,
  STOP_END,
  STOP_PAST_END,
  STOP_TABLES_FULL,
} from "./layout";

// ---------------------------------------------------------------------------
// Memory layout, fixed at init (the statistics indexes, stop reasons, sinks
// and table entry layouts are named in layout.ts, for hosts to mirror).

let initialised = false;
let heapTopPtr: usize = 0;

let statsPtr_: usize = 0;
// Per-CPU state, one 16-byte slot per CPU so that an event touches one
// cache line and two 8-byte words for its statistics: u64 last timestamp
// (kept across batches) at 0, then u32 events and u32 out-of-order events
// of this batch at 8 and 12 (reset per batch, for touched CPUs only).
// Static data, not laid out by init(): a compile-time constant address goes
// into the offset field of each access, so the walk loop keeps no register
// for it (V8 otherwise spills loop state around the statistics; measured
// ~8% per event).
const cpuStatePtr: usize = memory.data(<i32>(MAX_CPUS * 16), 64);
// u32[MAX_CPUS], the CPUs seen in this batch; static for the same reason.
const touchedPtr: usize = memory.data(<i32>(MAX_CPUS * 4), 64);

let inputPtr_: usize = 0;
let inputBytes_: u32 = 0;
let batchPtr_: usize = 0;
let batchCap: u32 = 0;
let mapPtr_: usize = 0;
let mapBytes_: u32 = 0;

let ringPtr_: usize = 0;
let ringCap: u32 = 0;
// The ring's state lives in memory, not in WASM globals, so that a host can
// push without calling into the module (a JS-to-WASM call alone costs more
// than the push): u32 head (slot the next push writes) at 0, u32 length at
// 4, u64 overwritten count at 8. Every push, from the host or from walk(),
// goes through the same three words.
// Static (like the per-CPU state), so it never overlaps a region init()
// lays out.
const ringStatePtr: usize = memory.data(16, 16);
const RS_HEAD: usize = 0;
const RS_LEN: usize = 4;
const RS_OVERWRITTEN: usize = 8;

@inline function alignUp64(v: u64, a: u64): u64 {
  return (v + a - 1) & ~(a - 1);
}

/**
 * Lays out every region and grows memory to hold them. Called once.
 *
 * ringCapacity: events the overwrite ring holds (>= 1, any value).
 * batchCapacity: events one walk() may write to the batch output area.
 * inputBytes: size of the scratch area hosts copy record streams into.
 * mapBytes/mapAlign: an extra page-aligned area a host may mmap a BPF ring
 * buffer over (0 for none); mapAlign must be a power of two.
 *
 * Returns 0, or -1 if already initialised, -2 on bad arguments, -3 if memory
 * could not grow.
 */
export function init(
  ringCapacity: u32,
  batchCapacity: u32,
  inputBytes: u32,
  mapBytes: u32,
  mapAlign: u32,
): i32 {
  if (initialised) return -1;
  if (ringCapacity == 0 || ringCapacity > 0x4000000) return -2;
  if (batchCapacity > 0x4000000 || inputBytes > 0x40000000) return -2;
  if (mapAlign == 0 || (mapAlign & (mapAlign - 1)) != 0) return -2;
  // The layout is computed in u64: with the largest capacities allowed above
  // the sum passes 2^32, and a wrapped usize would "fit" and overlap regions.
  // After the tables when initTables() laid them out first.
  let p: u64 = alignUp64(tablesReady ? <u64>tablesEnd : <u64>__heap_base, 64);
  const stats = p;
  p += <u64>STATS_WORDS * 4;
  const ring = alignUp64(p, 64);
  p = ring + <u64>ringCapacity * EVENT_SIZE;
  const batch = alignUp64(p, 64);
  p = batch + <u64>batchCapacity * EVENT_SIZE;
  const input = alignUp64(p, 64);
  p = input + <u64>inputBytes;
  let map: u64 = 0;
  if (mapBytes > 0) {
    map = alignUp64(p, <u64>mapAlign);
    p = map + <u64>mapBytes;
  }
  const need: u64 = p;
  if (need > 0xFFFF0000) return -3;
  const havePages = <u64>memory.size();
  const needPages = (need + 0xFFFF) >> 16;
  if (needPages > havePages) {
    if (memory.grow(<i32>(needPages - havePages)) < 0) return -3;
  }
  statsPtr_ = <usize>stats;
  ringPtr_ = <usize>ring;
  batchPtr_ = <usize>batch;
  inputPtr_ = <usize>input;
  mapPtr_ = <usize>map;
  ringCap = ringCapacity;
  batchCap = batchCapacity;
  inputBytes_ = inputBytes;
  mapBytes_ = mapBytes;
  heapTopPtr = <usize>p;
  initialised = true;
  return 0;
}

// ---------------------------------------------------------------------------
// The stack and aggregation tables, laid out once by initTables().
//
// Stacks: every distinct stack the walker meets is interned once: its
// frames are copied into the frame arena and it gets an id, an index into
// the stack entries (STACK_ENTRY_SIZE each: hash, first frame, frame count,
// pid; pid -1 for kernel stacks, which are the same in every process, while
// a user stack means something only in its own address space). An open-
// addressing index of u32 slots (id + 1, 0 = empty), a power of two at
// least twice the capacity, finds a stack by the hash of (pid, frames); a
// hash match is confirmed frame by frame, so two stacks are never confused.
//
// Aggregation: one entry (AGG_ENTRY_SIZE) per distinct (pid, tid, cpu, user
// stack, kernel stack) with its sample count, found the same way. The host
// reads the entries and the stacks they name at the end of an interval and
// then clears both (cutTables). When a record would need room that is not
// there, walk() stops before it (STOP_TABLES_FULL) and consumes nothing
// more: the host cuts and walks again, so no sample is ever dropped or
// merged for lack of room.

let tablesReady = false;
let stackCap: u32 = 0;
let nStacks: u32 = 0;
let stackMask: u32 = 0;
let stackSlotsPtr: usize = 0;
let stackEntriesPtr: usize = 0;
let frameCap: u32 = 0;
let nFrames: u32 = 0;
let framesPtr_: usize = 0;
let aggCap: u32 = 0;
let nAggs: u32 = 0;
let aggMask: u32 = 0;
let aggSlotsPtr: usize = 0;
let aggEntriesPtr: usize = 0;
let tablesStart: usize = 0;
let tablesEnd: usize = 0;

@inline function slotsFor(capacity: u32): u64 {
  // A power of two >= 2 x capacity: probes stay short at full load.
  let n: u64 = 2;
  while (n < <u64>capacity * 2) n <<= 1;
  return n;
}

/**
 * Lays out the stack and aggregation tables at the start of the heap,
 * growing memory once. Call it before init() (which then lays out its
 * regions after the tables, so the input area and the host mapping stay
 * the last regions), or not at all for a parser without tables.
 *
 * stacks: distinct stacks held at once (1 .. 2^22); frames: frames held in
 * the arena (>= 2 x STACK_DEPTH, so any one record fits an empty arena, at
 * most 2^26); aggregates: distinct aggregation keys (1 .. 2^22).
 *
 * Returns 0, or -1 if init() has run or the tables exist, -2 on bad
 * arguments, -3 if memory could not grow.
 */
export function initTables(stacks: u32, frames: u32, aggregates: u32): i32 {
  if (initialised || tablesReady) return -1;
  if (stacks < 2 || stacks > 0x400000) return -2;
  if (frames < 2 * STACK_DEPTH || frames > 0x4000000) return -2;
  if (aggregates < 1 || aggregates > 0x400000) return -2;
  const sSlots = slotsFor(stacks);
  const aSlots = slotsFor(aggregates);
  let p: u64 = alignUp64(<u64>__heap_base, 64);
  const start = p;
  const slots = p;
  p += sSlots * 4;
  const entries = alignUp64(p, 64);
  p = entries + <u64>stacks * STACK_ENTRY_SIZE;
  const arena = alignUp64(p, 64);
  p = arena + <u64>frames * 8;
  const aggSlots = alignUp64(p, 64);
  p = aggSlots + aSlots * 4;
  const aggEntries = alignUp64(p, 64);
  p = aggEntries + <u64>aggregates * AGG_ENTRY_SIZE;
  if (p > 0xFFFF0000) return -3;
  const havePages = <u64>memory.size();
  const needPages = (p + 0xFFFF) >> 16;
  if (needPages > havePages) {
    if (memory.grow(<i32>(needPages - havePages)) < 0) return -3;
  }
  stackCap = stacks;
  stackMask = <u32>sSlots - 1;
  stackSlotsPtr = <usize>slots;
  stackEntriesPtr = <usize>entries;
  frameCap = frames;
  framesPtr_ = <usize>arena;
  aggCap = aggregates;
  aggMask = <u32>aSlots - 1;
  aggSlotsPtr = <usize>aggSlots;
  aggEntriesPtr = <usize>aggEntries;
  tablesStart = <usize>start;
  tablesEnd = <usize>p;
  tablesReady = true;
  cutTables();
  return 0;
}

/** Empties the stack and aggregation tables (ids given out before are void). */
export function cutTables(): void {
  if (!tablesReady) return;
  memory.fill(stackSlotsPtr, 0, <usize>(stackMask + 1) * 4);
  memory.fill(aggSlotsPtr, 0, <usize>(aggMask + 1) * 4);
  nStacks = 0;
  nFrames = 0;
  nAggs = 0;
}

export function stackCount(): u32 {
  return nStacks;
}
export function stackCapacity(): u32 {
  return stackCap;
}
export function stackEntries(): usize {
  return stackEntriesPtr;
}
export function frameCount(): u32 {
  return nFrames;
}
export function frameCapacity(): u32 {
  return frameCap;
}
/** The frame arena: u64 instruction pointers, a stack's innermost first. */
export function framesPtr(): usize {
  return framesPtr_;
}
export function aggCount(): u32 {
  return nAggs;
}
export function aggCapacity(): u32 {
  return aggCap;
}
export function aggEntries(): usize {
  return aggEntriesPtr;
}
/** Bytes the tables take (0 before initTables). */
export function tablesBytes(): u32 {
  return <u32>(tablesEnd - tablesStart);
}

// A multiply-xorshift step over 64-bit words: cheap (one multiply per
// frame) and good enough for table indexes, since every hit is confirmed.
@inline function mix(h: u64, v: u64): u64 {
  h = (h ^ v) * 0x9E3779B97F4A7C15;
  return h ^ (h >> 29);
}

@inline function fold(h: u64): u32 {
  return <u32>(h ^ (h >> 32));
}

/**
 * The id of the stack (pid, n frames at src), interned if new. The caller
 * has made sure a new stack fits (see roomFor).
 */
function internStack(pid: i32, src: usize, n: u32): u32 {
  let h = mix(0x243F6A8885A308D3, (<u64>n << 32) | <u64><u32>pid);
  for (let i: u32 = 0; i < n; i++) h = mix(h, load<u64>(src + (<usize>i << 3)));
  const hash = fold(h);
  let slot = hash & stackMask;
  while (true) {
    const v = load<u32>(stackSlotsPtr + (<usize>slot << 2));
    if (v == 0) break;
    const e = stackEntriesPtr + <usize>(v - 1) * STACK_ENTRY_SIZE;
    if (
      load<u32>(e, SE_HASH) == hash && load<u32>(e, SE_FRAMES) == n &&
      load<i32>(e, SE_PID) == pid
    ) {
      const f = framesPtr_ + (<usize>load<u32>(e, SE_FIRST) << 3);
      let same = true;
      for (let i: u32 = 0; i < n; i++) {
        const o = <usize>i << 3;
        if (load<u64>(f + o) != load<u64>(src + o)) {
          same = false;
          break;
        }
      }
      if (same) return v - 1;
    }
    slot = (slot + 1) & stackMask;
  }
  const id = nStacks++;
  const e = stackEntriesPtr + <usize>id * STACK_ENTRY_SIZE;
  store<u32>(e, hash, SE_HASH);
  store<u32>(e, nFrames, SE_FIRST);
  store<u32>(e, n, SE_FRAMES);
  store<i32>(e, pid, SE_PID);
  memory.copy(framesPtr_ + (<usize>nFrames << 3), src, <usize>n << 3);
  nFrames += n;
  store<u32>(stackSlotsPtr + (<usize>slot << 2), id + 1);
  return id;
}

/**
 * Counts one sample of (pid, tid, cpu, user stack, kernel stack), given as
 * a = tid << 32 | pid (the event's two adjacent words, read as one), b =
 * user stack << 32 | cpu and the kernel stack. Inlined into both paths of
 * the walk: a call per event measured ~1 ns of the aggregation's cost.
 */
@inline function aggregate(a: u64, b: u64, kstack: u32): void {
  // Probed like internStack's index (the same slot scheme) but with its own
  // key and entry: a shared probe would compare through a function value,
  // an indirect call per event.
  // Three independent products instead of a chain of three mixing rounds:
  // the multiplies issue together, and the final shift folds the high bits
  // (where the products differ most) into the slot index.
  let h = (a * 0x9E3779B97F4A7C15) ^ (b * 0xC2B2AE3D27D4EB4F) ^
    (<u64>kstack * 0x165667B19E3779F9);
  h ^= h >> 29;
  const hash = fold(h);
  let slot = hash & aggMask;
  while (true) {
    const v = load<u32>(aggSlotsPtr + (<usize>slot << 2));
    if (v == 0) break;
    const e = aggEntriesPtr + <usize>(v - 1) * AGG_ENTRY_SIZE;
    if (
      load<u64>(e, AG_PID) == a && load<u64>(e, AG_CPU) == b &&
      load<u32>(e, AG_KERNEL_STACK) == kstack
    ) {
      store<u32>(e, load<u32>(e, AG_SAMPLES) + 1, AG_SAMPLES);
      return;
    }
    slot = (slot + 1) & aggMask;
  }
  const id = nAggs++;
  const e = aggEntriesPtr + <usize>id * AGG_ENTRY_SIZE;
  store<u64>(e, a, AG_PID);
  store<u64>(e, b, AG_CPU);
  store<u32>(e, kstack, AG_KERNEL_STACK);
  store<u32>(e, 1, AG_SAMPLES);
  store<u32>(e, hash, AG_HASH);
  store<u32>(e, 0, AG_HASH + 4);
  store<u32>(aggSlotsPtr + (<usize>slot << 2), id + 1);
}

// ---------------------------------------------------------------------------
// Region addresses, for hosts that build views once after init.

export function statsPtr(): usize {
  return statsPtr_;
}
/**
 * Per-CPU state: MAX_CPUS slots of 16 bytes, u64 last timestamp at 0, u32
 * events of the last walk at 8, u32 out-of-order events of the last walk at
 * 12. Only the CPUs listed at cpusTouchedPtr() hold the last walk's counts.
 */
export function cpuStatsPtr(): usize {
  return cpuStatePtr;
}
export function cpusTouchedPtr(): usize {
  return touchedPtr;
}
export function inputPtr(): usize {
  return inputPtr_;
}
export function inputBytes(): u32 {
  return inputBytes_;
}
export function batchPtr(): usize {
  return batchPtr_;
}
export function batchCapacity(): u32 {
  return batchCap;
}
export function ringPtr(): usize {
  return ringPtr_;
}
/** The ring state block: u32 head, u32 length, u64 overwritten. */
export function ringStateAddress(): usize {
  return ringStatePtr;
}
export function mapPtr(): usize {
  return mapPtr_;
}
export function mapBytes(): u32 {
  return mapBytes_;
}
/** End of everything init() laid out; never moves after init. */
export function heapTop(): usize {
  return heapTopPtr;
}
export function maxCpus(): u32 {
  return MAX_CPUS;
}

// ---------------------------------------------------------------------------
// The overwrite ring.

@inline function copyEvent(dst: usize, src: usize): void {
  // One bulk copy: Deno runs WASM without V8's trap handler, so every
  // memory access carries an explicit bounds check (denoland/deno#35658);
  // one range check for 32 bytes measured ~0.75 ns/event cheaper on the
  // ring path than four 8-byte moves. (SIMD would be cheaper still, but
  // wasm2c 1.0.32 cannot compile it.)
  memory.copy(dst, src, EVENT_SIZE);
}

// The ring slot after `slot`, in a ring of `cap` slots.
@inline function nextSlot(slot: u32, cap: u32): u32 {
  slot++;
  if (slot == cap) slot = 0;
  return slot;
}

@inline function ringAdvance(): void {
  // head (low word) and length (high word) in one 8-byte access: every
  // access costs a bounds check in engines without a WASM trap handler.
  const hl = load<u64>(ringStatePtr, RS_HEAD);
  const h = nextSlot(<u32>hl, ringCap);
  let len = <u32>(hl >> 32);
  if (len < ringCap) len++;
  else {
    store<u64>(ringStatePtr, load<u64>(ringStatePtr, RS_OVERWRITTEN) + 1, RS_OVERWRITTEN);
  }
  store<u64>(ringStatePtr, (<u64>len << 32) | <u64>h, RS_HEAD);
}

// The ring state after `count` pushes that left the head at `head`: each
// push either grew the ring or overwrote its oldest event. For pushes made
// in bulk (ringPushEvents) or in a walk's loop, which keeps only the head.
@inline function ringPushed(count: u32, head: u32): void {
  const total = <u64>load<u32>(ringStatePtr, RS_LEN) + <u64>count;
  const len: u32 = total < <u64>ringCap ? <u32>total : ringCap;
  store<u64>(ringStatePtr, (<u64>len << 32) | <u64>head, RS_HEAD);
  const over = load<u64>(ringStatePtr, RS_OVERWRITTEN) + (total - <u64>len);
  store<u64>(ringStatePtr, over, RS_OVERWRITTEN);
}

/**
 * Pushes one event given as fields, for hosts that push through the module
 * (C via wasm2c, say; the JS wrapper writes the slot itself, see
 * EventRing.pushRaw). The timestamp comes as two u32 halves so that callers
 * without i64 arguments pass plain numbers. The same eight parameters as
 * writeEvent after its `dst`, and as EventRing.pushRaw: one ABI, written
 * out in each.
 */
export function ringPush(
  tsLo: u32,
  tsHi: u32,
  pid: i32,
  tid: i32,
  userStackId: i32,
  kernelStackId: i32,
  cpu: u32,
  flags: u32,
): void {
  writeEvent(
    ringPtr_ + <usize>load<u32>(ringStatePtr, RS_HEAD) * EVENT_SIZE,
    tsLo,
    tsHi,
    pid,
    tid,
    userStackId,
    kernelStackId,
    cpu,
    flags,
  );
  ringAdvance();
}

/**
 * Pushes `count` packed 32-byte events starting at `src`, oldest first: the
 * same end state as `count` single pushes, in at most two bulk copies. Of a
 * batch larger than the ring only the newest `capacity` events are copied;
 * the older ones would be overwritten within this call and are counted as
 * overwritten.
 */
export function ringPushEvents(src: usize, count: u32): void {
  if (count == 0) return;
  const cap = ringCap;
  const head = load<u32>(ringStatePtr, RS_HEAD);
  // The events that survive: the last n of the batch, written from the slot
  // the first of them would have reached.
  const skip: u32 = count > cap ? count - cap : 0;
  const n = count - skip;
  let start = <u32>((<u64>head + <u64>skip) % <u64>cap);
  const first = n < cap - start ? n : cap - start;
  memory.copy(
    ringPtr_ + <usize>start * EVENT_SIZE,
    src + <usize>skip * EVENT_SIZE,
    <usize>first * EVENT_SIZE,
  );
  if (n > first) {
    memory.copy(
      ringPtr_,
      src + <usize>(skip + first) * EVENT_SIZE,
      <usize>(n - first) * EVENT_SIZE,
    );
  }
  start += n;
  if (start >= cap) start -= cap;
  ringPushed(count, start);
}

export function ringLength(): u32 {
  return load<u32>(ringStatePtr, RS_LEN);
}
export function ringCapacity(): u32 {
  return ringCap;
}
/** Slot the next push writes; the oldest event is at (head - length) mod cap. */
export function ringHead(): u32 {
  return load<u32>(ringStatePtr, RS_HEAD);
}
/** Events pushed out by newer ones since init or the last clear (exact to 2^53). */
export function ringOverwrittenCount(): f64 {
  return <f64>load<u64>(ringStatePtr, RS_OVERWRITTEN);
}
export function ringClear(): void {
  store<u32>(ringStatePtr, 0, RS_HEAD);
  store<u32>(ringStatePtr, 0, RS_LEN);
  store<u64>(ringStatePtr, 0, RS_OVERWRITTEN);
}

/**
 * Copies up to `max` events, oldest first, to `dst`; returns how many. `dst`
 * may be the batch area (when the ring fits) or any host-chosen area.
 */
export function ringSnapshot(dst: usize, max: u32): u32 {
  const ringLen = load<u32>(ringStatePtr, RS_LEN);
  const n = ringLen < max ? ringLen : max;
  // Skip the oldest (ringLen - n) so the newest n are returned.
  let idx = load<u32>(ringStatePtr, RS_HEAD) + ringCap - ringLen + (ringLen - n);
  if (idx >= ringCap) idx -= ringCap;
  if (idx >= ringCap) idx -= ringCap;
  for (let i: u32 = 0; i < n; i++) {
    copyEvent(dst + <usize>i * EVENT_SIZE, ringPtr_ + <usize>idx * EVENT_SIZE);
    idx = nextSlot(idx, ringCap);
  }
  return n;
}

// ---------------------------------------------------------------------------
// Encoding.

/** Writes one 32-byte ProfileEvent at `dst`. */
export function writeEvent(
  dst: usize,
  tsLo: u32,
  tsHi: u32,
  pid: i32,
  tid: i32,
  userStackId: i32,
  kernelStackId: i32,
  cpu: u32,
  flags: u32,
): void {
  // Four 8-byte stores of little-endian field pairs, not seven: fewer
  // bounds-checked accesses (see copyEvent).
  store<u64>(dst, (<u64>tsHi << 32) | <u64>tsLo, OFF_TIMESTAMP);
  store<u64>(dst, (<u64><u32>tid << 32) | <u64><u32>pid, OFF_PID);
  store<u64>(dst, (<u64><u32>kernelStackId << 32) | <u64><u32>userStackId, OFF_USER_STACK);
  store<u64>(dst, (<u64>flags << 32) | <u64>cpu, OFF_CPU);
}

/**
 * Encodes `count` packed events from `src` as committed BPF ring buffer
 * records at `dst` (header len = 32, pg_off = 0, no padding needed since
 * 8 + 32 is a multiple of 8). Returns bytes written.
 */
export function encodeRecords(src: usize, count: u32, dst: usize): u32 {
  const rec = RECORD_HEADER_SIZE + EVENT_SIZE;
  for (let i: u32 = 0; i < count; i++) {
    const r = dst + <usize>i * rec;
    store<u32>(r, EVENT_SIZE, 0);
    store<u32>(r, 0, 4);
    copyEvent(r + RECORD_HEADER_SIZE, src + <usize>i * EVENT_SIZE);
  }
  return count * rec;
}

// ---------------------------------------------------------------------------
// Walking record streams.

@inline function stat(i: u32): u32 {
  return load<u32>(statsPtr_ + (<usize>i << 2));
}
@inline function setStat(i: u32, v: u32): void {
  store<u32>(statsPtr_ + (<usize>i << 2), v);
}

/** Clears the per-CPU last timestamps (a new stream, not a new batch). */
export function resetStream(): void {
  for (let c: usize = 0; c < <usize>MAX_CPUS; c++) {
    store<u64>(cpuStatePtr + c * CPU_STATE_SIZE, 0, CS_LAST_TS);
  }
}

/**
 * Bytes from `ptr` up to the first record the producer has not committed
 * (BUSY), or up to the first header that claims bytes past `len`: the part
 * of [ptr, ptr + len) that walk() may decode. Reads headers only. Hosts on
 * weakly ordered CPUs call this, fence, then walk() exactly these bytes.
 */
export function committedBytes(ptr: usize, len: u32): u32 {
  let off: u32 = 0;
  while (len - off >= RECORD_HEADER_SIZE) {
    const hdr = load<u32>(ptr + <usize>off);
    if (hdr & BUSY_BIT) break;
    const total = ((hdr & ~(BUSY_BIT | DISCARD_BIT)) + RECORD_HEADER_SIZE + 7) & ~(<u32>7);
    if (total > len - off) break;
    off += total;
  }
  return off;
}

/**
 * Walks the BPF ring buffer records in [ptr, ptr + len) exactly as the kernel
 * lays them out, decoding each committed 32-byte record into the sinks
 * (SINK_RING pushes into the overwrite ring, SINK_BATCH appends to the batch
 * area), and fills the statistics block. Returns the bytes consumed: the
 * caller advances the ring's consumer position by exactly this much.
 *
 * Stops at the first BUSY record (the producer has reserved but not yet
 * committed it; records after it may be committed, but the kernel requires
 * consumption in order), when a header claims bytes past the end of what was
 * given or the data ends inside a header (malformed: counted, not consumed,
 * nothing read beyond `len`), or
 * when the batch area is full. DISCARD records are skipped and counted, and
 * so are records whose length is not an event's (malformed: consumed so the
 * stream moves on).
 *
 * Headers are read with plain loads. The module uses no post-MVP feature
 * beyond bulk memory (no threads, no SIMD) so that every host can embed the
 * same binary, wasm2c 1.0.32 included, which rejects atomics and SIMD.
 * Ordering against the kernel producer is therefore the host's job when it
 * walks a live ring mapped into this memory: the kernel commits a record by
 * xchg() on its header after writing the payload (kernel/bpf/ringbuf.c,
 * bpf_ringbuf_commit), so the header must be read before the payload. On
 * x86 (TSO) loads are not reordered with loads, and every payload load here
 * is control-dependent on the header check, so program order suffices. On
 * weakly ordered CPUs (arm64) the host calls committedBytes() first, issues
 * a full fence, and then walks only the committed bytes it found (see
 * lib/bpf/ring_reader.ts).
 */
export function walk(ptr: usize, len: u32, sinks: u32): u32 {
  // Reset only what the previous batch touched: O(CPUs seen), not O(MAX_CPUS).
  const touchedCount = stat(ST_CPUS_TOUCHED);
  for (let i: u32 = 0; i < touchedCount; i++) {
    const cpu = <usize>load<u32>(touchedPtr + (<usize>i << 2));
    store<u64>(cpuStatePtr + cpu * CPU_STATE_SIZE, 0, CS_COUNTS);
  }
  memory.fill(statsPtr_, 0, <usize>STATS_WORDS * 4);
  // One loop per combination of sinks, each a walkInto() with its sinks a
  // constant, so the per-event path tests no flag.
  const R = SINK_RING;
  const B = SINK_BATCH;
  const A = SINK_AGGREGATE;
  // Aggregation needs the tables; without them it is ignored.
  if ((sinks & A) != 0 && tablesReady) {
    if (sinks & R) {
      return sinks & B
        ? walkInto(ptr, len, R | B | A)
        : walkInto(ptr, len, R | A);
    }
    return sinks & B ? walkInto(ptr, len, B | A) : walkInto(ptr, len, A);
  }
  if (sinks & R) {
    return sinks & B ? walkInto(ptr, len, R | B) : walkInto(ptr, len, R);
  }
  return sinks & B ? walkInto(ptr, len, B) : walkInto(ptr, len, 0);
}

// What the frame-record path decided for one record, for the loop to apply.
let recUser: u32 = 0;
let recKernel: u32 = 0;

// One more of statistic `i`.
@inline function bumpStat(i: u32): void {
  setStat(i, stat(i) + 1);
}

// One stack of a record with frames: its outcome counted in the statistic
// of its kind (the four indexes, constants at each use), and the id handed
// on: a sentinel, the interned stack's id, or without tables the count.
// The stack's field at `field` of the event holds its frame count `n`, or
// a negative errno; its frames are at `src`; a kernel stack is the same in
// every process (pid -1).
@inline function classifyStack(
  ev: usize,
  field: usize,
  n: u32,
  truncated: bool,
  kernel: bool,
  src: usize,
  intern: bool,
  stResolved: u32,
  stTruncated: u32,
  stEmpty: u32,
  stFault: u32,
): u32 {
  if (load<i32>(ev + field) < 0) {
    bumpStat(stFault);
    return STACK_ID_FAULT;
  }
  if (n == 0) {
    bumpStat(stEmpty);
    return STACK_ID_EMPTY;
  }
  bumpStat(truncated ? stTruncated : stResolved);
  if (!intern) return n;
  return internStack(kernel ? -1 : load<i32>(ev, OFF_PID), src, n);
}

/**
 * Classifies and interns the two stacks of a record with frames at `ev`
 * (the event; frames follow it), counting each stack's outcome in the
 * statistics block, and leaves the stack ids in recUser / recKernel.
 * Returns false, changing nothing, if the tables cannot take the record.
 */
function frameRecord(ev: usize, nu: u32, nk: u32): bool {
  const intern = tablesReady;
  if (intern) {
    // Room for two new stacks and all their frames: checked up front, so a
    // record is interned whole or not at all.
    if (
      nStacks + 2 > stackCap || nFrames + nu + nk > frameCap ||
      nAggs + 1 > aggCap
    ) return false;
  }
  const flags = load<u32>(ev, OFF_FLAGS);
  const frames = ev + EVENT_SIZE;
  recUser = classifyStack(
    ev, OFF_USER_STACK, nu, (flags & FLAG_USER_TRUNCATED) != 0, false,
    frames, intern,
    ST_USER_RESOLVED, ST_USER_TRUNCATED, ST_USER_EMPTY, ST_USER_FAULT,
  );
  recKernel = classifyStack(
    ev, OFF_KERNEL_STACK, nk, (flags & FLAG_KERNEL_TRUNCATED) != 0, true,
    frames + (<usize>nu << 3), intern,
    ST_KERNEL_RESOLVED, ST_KERNEL_TRUNCATED, ST_KERNEL_EMPTY, ST_KERNEL_FAULT,
  );
  setStat(ST_USER_FRAMES, stat(ST_USER_FRAMES) + nu);
  setStat(ST_KERNEL_FRAMES, stat(ST_KERNEL_FRAMES) + nk);
  return true;
}

// Counts one event of CPU `cpu` (< MAX_CPUS) at `ev` in the per-CPU state
// (the event, out of order or not against the CPU's last timestamp, the
// CPU's entry in the touched list on its first event of the walk), for
// both paths of the walk; returns the new touched count.
@inline function countCpu(ev: usize, cpu: u32, touched: u32): u32 {
  const cs = <usize>cpu * CPU_STATE_SIZE;
  const ts = load<u64>(ev, OFF_TIMESTAMP);
  // The event count is a chain through memory from one event of a CPU to
  // the next (load, add, store), so nothing else joins it: the rare
  // out-of-order case takes a branch of its own (merging it into the count
  // measured slower for runs of one CPU).
  const n = load<u32>(cs, cpuStatePtr + CS_COUNTS);
  if (n == 0) {
    store<u32>(<usize>touched << 2, cpu, touchedPtr);
    touched++;
  }
  store<u32>(cs, n + 1, cpuStatePtr + CS_COUNTS);
  if (ts < load<u64>(cs, cpuStatePtr + CS_LAST_TS)) {
    const ooo = load<u32>(cs, cpuStatePtr + CS_OUT_OF_ORDER);
    store<u32>(cs, ooo + 1, cpuStatePtr + CS_OUT_OF_ORDER);
  }
  store<u64>(cs, ts, cpuStatePtr + CS_LAST_TS);
  return touched;
}

// The body of walk(), inlined eight times with constant sinks (SINK_*
// bits; aggregation only with the tables).
@inline function walkInto(ptr: usize, len: u32, sinks: u32): u32 {
  const toRing = (sinks & SINK_RING) != 0;
  const toBatch = (sinks & SINK_BATCH) != 0;
  const toAgg = (sinks & SINK_AGGREGATE) != 0;
  const REC: u32 = RECORD_HEADER_SIZE + EVENT_SIZE;
  let events: u32 = 0;
  let discarded: u32 = 0;
  let short: u32 = 0;
  let long: u32 = 0;
  let pastEnd: u32 = 0;
  let badCpu: u32 = 0;
  let noFrames: u32 = 0;
  let touched: u32 = 0;
  let written: u32 = 0;
  let stop = STOP_END;
  let off: u32 = 0;
  let out = batchPtr_;
  // The ring's head in a local for the loop (a register, not memory),
  // written back once at the end with the length and overwritten count,
  // which follow from the pushes: every event decoded is pushed.
  const ringBase = ringPtr_;
  const cap = ringCap;
  let head = load<u32>(ringStatePtr, RS_HEAD);

  while (len - off >= RECORD_HEADER_SIZE) {
    // Fast path: a run of committed plain event records, the 32-byte event
    // alone (header 32: not BUSY, not DISCARD, no frames), so the bytes left
    // and the batch room bound the run before it starts and the loop tests
    // one header word, one flag and one bound per event.
    let room = (len - off) / REC;
    if (toBatch && batchCap - written < room) room = batchCap - written;
    if (toAgg && aggCap - nAggs < room) room = aggCap - nAggs;
    // A cursor and a bound as addresses, and events with a CPU number out of
    // range counted after the run (run - seen): fewer values live in the loop.
    let rec = ptr + <usize>off;
    const runEnd = rec + <usize>(room * REC);
    const runStart = rec;
    let seen: u32 = 0; // events of this run with a CPU < MAX_CPUS
    while (rec < runEnd) {
      if (load<u32>(rec) != EVENT_SIZE) break;
      const ev = rec + RECORD_HEADER_SIZE;
      // cpu and flags in one access (every access is bounds-checked).
      const cpuFlags = load<u64>(ev, OFF_CPU);
      if (<u32>(cpuFlags >> 32) & FLAG_FRAMES) break;
      const cpu = <u32>cpuFlags;
      if (cpu < MAX_CPUS) {
        touched = countCpu(ev, cpu, touched);
        seen++;
      }
      if (toRing) {
        copyEvent(ringBase + <usize>head * EVENT_SIZE, ev);
        head = nextSlot(head, cap);
      }
      if (toBatch) {
        copyEvent(out, ev);
        out += EVENT_SIZE;
      }
      if (toAgg) {
        aggregate(
          load<u64>(ev, OFF_PID),
          (<u64>STACK_ID_NOT_COLLECTED << 32) | <u64>cpu,
          STACK_ID_NOT_COLLECTED,
        );
      }
      rec += REC;
    }
    const run = <u32>(rec - runStart) / REC;
    off += run * REC;
    events += run;
    noFrames += run;
    badCpu += run - seen;
    if (toBatch) written += run;

    // Slow path: one record that is not a plain committed event, or the end.
    // The reference decoder, bench/ts_decoder.ts and harness-c/native_walker.c
    // make these checks again on their own, on purpose: an oracle and two
    // baselines that share no code with what they check or measure.
    if (len - off < RECORD_HEADER_SIZE) break;
    const at = ptr + <usize>off;
    const hdr = load<u32>(at);
    if (hdr & BUSY_BIT) {
      stop = STOP_BUSY;
      break;
    }
    const recLen = hdr & ~(BUSY_BIT | DISCARD_BIT);
    // recLen < 2^30, so this cannot overflow u32.
    const total = (recLen + RECORD_HEADER_SIZE + 7) & ~(<u32>7);
    if (total > len - off) {
      pastEnd++;
      stop = STOP_PAST_END;
      break;
    }
    if (hdr & DISCARD_BIT) {
      discarded++;
      off += total;
      continue;
    }
    if (recLen < EVENT_SIZE) {
      short++;
      off += total;
      continue;
    }
    const ev = at + RECORD_HEADER_SIZE;
    const flags = load<u32>(ev, OFF_FLAGS);
    if ((flags & FLAG_FRAMES) == 0) {
      if (recLen != EVENT_SIZE) {
        long++;
        off += total;
        continue;
      }
      // A whole plain event the run did not take: the batch area or the
      // aggregation table is full, or the run ended at its bound on new
      // aggregation keys with room left (most events hit existing keys):
      // then the next run takes it.
      if (toBatch && written == batchCap) {
        stop = STOP_BATCH_FULL;
        break;
      }
      if (toAgg && nAggs >= aggCap) {
        stop = STOP_TABLES_FULL;
        break;
      }
      continue;
    }
    // A record with frames: its length must be exactly what the counts say.
    const u = load<i32>(ev, OFF_USER_STACK);
    const k = load<i32>(ev, OFF_KERNEL_STACK);
    const nu: u32 = u > 0 ? <u32>u : 0;
    const nk: u32 = k > 0 ? <u32>k : 0;
    if (nu > STACK_DEPTH || nk > STACK_DEPTH) {
      long++;
      off += total;
      continue;
    }
    const want = EVENT_SIZE + ((nu + nk) << 3);
    if (recLen != want) {
      if (recLen < want) short++;
      else long++;
      off += total;
      continue;
    }
    if (toBatch && written == batchCap) {
      stop = STOP_BATCH_FULL;
      break;
    }
    if (!frameRecord(ev, nu, nk)) {
      stop = STOP_TABLES_FULL;
      break;
    }
    const cpu = load<u32>(ev, OFF_CPU);
    if (cpu < MAX_CPUS) touched = countCpu(ev, cpu, touched);
    else badCpu++;
    // The copies handed on carry the stack ids, not the frame counts.
    const ids = (<u64>recKernel << 32) | <u64>recUser;
    if (toRing) {
      const dst = ringBase + <usize>head * EVENT_SIZE;
      copyEvent(dst, ev);
      store<u64>(dst, ids, OFF_USER_STACK);
      head = nextSlot(head, cap);
    }
    if (toBatch) {
      copyEvent(out, ev);
      store<u64>(out, ids, OFF_USER_STACK);
      out += EVENT_SIZE;
      written++;
    }
    if (toAgg) {
      aggregate(
        load<u64>(ev, OFF_PID),
        (<u64>recUser << 32) | <u64>cpu,
        recKernel,
      );
    }
    events++;
    off += total;
  }
  if (toRing) ringPushed(events, head);
  // 1-7 bytes left: the data ends inside a header. A live ring never does
  // this (records are whole and 8-aligned), so it is malformed, and "end"
  // would claim every byte was consumed.
  if (stop == STOP_END && off != len) {
    pastEnd++;
    stop = STOP_PAST_END;
  }
  // The batch's out-of-order total, from the per-CPU counts it kept anyway.
  let ooo: u32 = 0;
  for (let i: u32 = 0; i < touched; i++) {
    const cpu = <usize>load<u32>(touchedPtr + (<usize>i << 2));
    ooo += load<u32>(cpuStatePtr + cpu * CPU_STATE_SIZE, CS_OUT_OF_ORDER);
  }

  setStat(ST_EVENTS, events);
  setStat(ST_DISCARDED, discarded);
  setStat(ST_MALFORMED, short + long + pastEnd);
  setStat(ST_STOP, stop);
  setStat(ST_CONSUMED, off);
  setStat(ST_OUT_OF_ORDER, ooo);
  setStat(ST_CPUS_TOUCHED, touched);
  setStat(ST_BAD_CPU, badCpu);
  setStat(ST_SHORT, short);
  setStat(ST_LONG, long);
  setStat(ST_PAST_END, pastEnd);
  setStat(ST_BATCH_WRITTEN, written);
  setStat(ST_NO_FRAMES, noFrames);
  return off;
}
