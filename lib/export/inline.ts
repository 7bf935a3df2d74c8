/**
 * Inlines a page's JavaScript modules into one script, so that a page is a
 * single self-contained file (the `--flamegraph` page works offline, from
 * `file://`, where a browser loads no module imports).
 *
 * Each module becomes an async function scope that returns its exports
 * (so a module may use top-level `await`; the result is meant for a
 * `<script type="module">`), and each
 * relative `import { a, b as c } from "./x.js"` becomes
 * `const { a, b: c } = <x's exports>`, dependencies first: modules keep
 * their own scopes, so two files may use the same private names. Only what
 * the page modules use is supported (named imports of relative `.js`
 * files; `export function|class|const|let` declarations); anything else is
 * an error, not a silently broken page.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { inlineModules } from "./inline.ts";
 * const files: Record<string, string> = {
 *   "file:///p/a.js": 'const hidden = 1;\nexport function one() { return hidden; }\n',
 *   "file:///p/main.js": 'import { one as uno } from "./a.js";\nconst hidden = 2;\nglobalThis.result = uno() + hidden;\n',
 * };
 * const js = await inlineModules(new URL("file:///p/main.js"), (u) => Promise.resolve(files[u.href]));
 * const g = globalThis as { result?: number };
 * const AsyncFunction = (async () => {}).constructor as FunctionConstructor;
 * await new AsyncFunction(js)();
 * assert.equal(g.result, 3);
 * ```
 * @module
 */

const IMPORT =
  /^import\s*\{([^}]*)\}\s*from\s*"(\.{1,2}\/[^"]+\.js)";[ \t]*$/gm;
const EXPORT =
  /^export\s+(?:async\s+)?(function\*?|class|const|let)\s+([A-Za-z_$][\w$]*)/gm;

/** Reads a module's source (default: from disk or the network). */
export type SourceReader = (url: URL) => Promise<string>;

const readSource: SourceReader = async (url) =>
  url.protocol === "file:"
    ? await Deno.readTextFile(url)
    : await (await fetch(url)).text();

/**
 * One script holding `entry` and every module it imports, relative and
 * transitively, each in its own scope. Throws on what it cannot inline (a
 * bare or default import, an import cycle, `export default`, a
 * `</script` in the source).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { inlineModules } from "./inline.ts";
 * const src = { "file:///q/m.js": 'import x from "./y.js";' } as Record<string, string>;
 * await assert.rejects(
 *   inlineModules(new URL("file:///q/m.js"), (u) => Promise.resolve(src[u.href])),
 *   /cannot inline/,
 * );
 * ```
 */
export async function inlineModules(
  entry: URL,
  read: SourceReader = readSource,
): Promise<string> {
  const order: string[] = [];
  const bodies = new Map<string, string>();
  const visiting = new Set<string>();
  const names = new Map<string, string>();
  const varOf = (href: string) => {
    let v = names.get(href);
    if (!v) {
      v = `__module${names.size}`;
      names.set(href, v);
    }
    return v;
  };
  const visit = async (url: URL): Promise<void> => {
    const href = url.href;
    if (bodies.has(href)) return;
    if (visiting.has(href)) {
      throw new Error(`cannot inline ${href}: an import cycle`);
    }
    visiting.add(href);
    let src = await read(url);
    if (typeof src !== "string") {
      throw new Error(`cannot inline ${href}: not found`);
    }
    if (/<\/script/i.test(src)) {
      throw new Error(`cannot inline ${href}: it contains "</script"`);
    }
    const deps: { url: URL; spec: string; full: string }[] = [];
    for (const m of src.matchAll(IMPORT)) {
      deps.push({ url: new URL(m[2], url), spec: m[1], full: m[0] });
    }
    for (const d of deps) await visit(d.url);
    for (const d of deps) {
      const binds = d.spec.split(",").map((s) => s.trim()).filter((s) => s)
        .map((s) => {
          const [name, alias] = s.split(/\s+as\s+/);
          return alias ? `${name}: ${alias}` : name;
        });
      src = src.replace(
        d.full,
        `const { ${binds.join(", ")} } = ${varOf(d.url.href)};`,
      );
    }
    const exported: string[] = [];
    src = src.replace(EXPORT, (all, _kind, name) => {
      exported.push(name);
      return all.replace(/^export\s+/, "");
    });
    const left = /^\s*(import|export)\b[^\n]*/m.exec(src);
    if (left) throw new Error(`cannot inline ${href}: "${left[0].trim()}"`);
    bodies.set(
      href,
      `const ${varOf(href)} = await (async () => {\n${src}\nreturn { ${
        exported.join(", ")
      } };\n})();\n`,
    );
    order.push(href);
    visiting.delete(href);
  };
  await visit(entry);
  return order.map((h) => bodies.get(h)).join("\n");
}
