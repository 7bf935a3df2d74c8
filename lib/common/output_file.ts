/**
 * Report files (`--json`, `--junit`, `--folded`, ...) that are checked
 * before a run starts and written atomically after it: a path that cannot
 * be written fails the command before any work (a usage error, exit 2), and
 * a write that fails half-way (a full disk) leaves the old file or none,
 * never a truncated one, because the data goes to a temporary file in the
 * same folder that is renamed over the target only when complete.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { checkWritable, writeFileAtomic } from "./output_file.ts";
 * const dir = await Deno.makeTempDir();
 * checkWritable(`${dir}/out.json`, "--json");
 * await writeFileAtomic(`${dir}/out.json`, '{"ok":true}\n');
 * assert.equal(await Deno.readTextFile(`${dir}/out.json`), '{"ok":true}\n');
 * await Deno.remove(dir, { recursive: true });
 * ```
 * @module
 */
import { UsageError } from "./errors.ts";

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

/**
 * Throws a UsageError naming the option if `path` cannot be written: its
 * folder is missing or read-only, or it is a folder. Creates nothing that
 * stays (a probe file is made and removed next to the target).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { checkWritable } from "./output_file.ts";
 * assert.throws(() => checkWritable("/nonexistent-dir/x.json", "--json"), /--json/);
 * ```
 */
export function checkWritable(path: string, what: string): void {
  if (path.trim() === "") throw new UsageError(`${what} needs a file name`);
  try {
    if (Deno.statSync(path).isDirectory) {
      throw new UsageError(`${what} ${path} is a folder, not a file`);
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if (!(err instanceof Deno.errors.NotFound)) {
      throw new UsageError(
        `${what} ${path}: cannot use it (${(err as Error).message})`,
      );
    }
  }
  const probe = `${dirOf(path)}/.streamprof-probe-${Deno.pid}-${
    Math.random().toString(36).slice(2)
  }`;
  try {
    Deno.writeFileSync(probe, new Uint8Array(0), { createNew: true });
    Deno.removeSync(probe);
  } catch (err) {
    throw new UsageError(
      `${what} ${path}: cannot write there (${(err as Error).message})`,
    );
  }
}

/**
 * Writes `data` to a temporary file next to `path`, flushes it, and renames
 * it over `path`. On any failure the temporary file is removed and the
 * error rethrown with the path in its message.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
): Promise<void> {
  const tmp = `${dirOf(path)}/.${
    path.slice(path.lastIndexOf("/") + 1)
  }.tmp-${Deno.pid}`;
  const bytes = typeof data === "string"
    ? new TextEncoder().encode(data)
    : data;
  try {
    const f = await Deno.open(tmp, {
      write: true,
      create: true,
      truncate: true,
    });
    try {
      let off = 0;
      while (off < bytes.byteLength) off += await f.write(bytes.subarray(off));
      await f.sync();
    } finally {
      f.close();
    }
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw new Error(`writing ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** One report file to write. */
export interface OutputFile {
  /** The option that named it ("--json"). */
  what: string;
  /** The path given. */
  path: string;
  /** Its content, made only when written. */
  data: () => string | Uint8Array;
}

/**
 * Writes every file (atomically), going on past failures, and returns the
 * error lines of those that failed: one bad `--json` does not cost the
 * `--junit` file or the verdict line.
 */
export async function writeOutputs(files: OutputFile[]): Promise<string[]> {
  const errors: string[] = [];
  for (const f of files) {
    try {
      await writeFileAtomic(f.path, f.data());
    } catch (err) {
      errors.push(`${f.what}: ${(err as Error).message}`);
    }
  }
  return errors;
}
