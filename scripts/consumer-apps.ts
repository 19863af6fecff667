// The package as an integrator gets it: `npm pack`, installed offline (from the npm cache, with
// onnxruntime-node's postinstall skipped by the variable the README documents) into fresh apps —
// ESM `import`, CommonJS `require`, TypeScript (nodenext, strict; a CommonJS and an ESM file) and
// an esbuild bundle run without the package installed — each exporting the demo-shaped BERT to
// INT8 and embedding two texts with the exported folder. A bundle built without the worker
// scripts must fail naming the missing file. Run: `npx tsx scripts/consumer-apps.ts` (prints a
// JSON report; exit 1 when an app failed); test/consumer-apps.test.ts runs it in the suite.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { build } from "esbuild";
import { syntheticBert } from "../src/fixtures/bert.js";
import { BUNDLED_VOCAB_SIZE, writeModelFolder } from "../src/fixtures/model-folder.js";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");
/** The variable the README's "Use it in an app" tells integrators to set. */
const INSTALL_ENV = { ...process.env, ONNXRUNTIME_NODE_INSTALL: "skip" };

export interface AppRun {
  app: string;
  code: number;
  stdout: string;
  stderr: string;
}

export interface ConsumerReport {
  /** Files in the packed tarball (paths below package/). */
  packedFiles: string[];
  /** Relative imports left in the packed worker scripts (each ships as one self-contained module: none). */
  workerRelativeImports: string[];
  apps: AppRun[];
  /** The bundle built without the worker scripts. */
  workerless: AppRun;
  /** esbuild's warnings, with the README's command line options. */
  bundleWarnings: string[];
  /** Seconds each step took (for the record; nothing asserts on them). */
  seconds: Record<string, number>;
}

const CORE_CHECK = `if (typeof openEncoder !== "function") throw new Error("@jazzmine/embedding/core has no openEncoder");\n`;

/** The app every variant runs (no top-level await: the bundle is CommonJS): export INT8, embed two texts, print one JSON line. */
const APP_BODY = `
(async () => {
  const [source, output] = process.argv.slice(2);
  const service = new EmbeddingService(source, { logger: silentLogger });
  const model = await service.exportOnnxModel(output);
  const embedder = await Embedder.load(output);
  const vectors = await embedder.embed(["a first text to embed", "and a second one"]);
  await embedder.close();
  console.log(JSON.stringify({ model: model.split(/[\\\\/]/).pop(), vectors: vectors.map((v) => Array.from(v)) }));
})().catch((error) => {
  console.error(error.message);
  process.exitCode = 1;
});
`;

// Each app also reaches the portable core's entry (the browser's way in), by its export path.
const ESM_APP = `import { EmbeddingService, Embedder, silentLogger } from "@jazzmine/embedding";
import { openEncoder } from "@jazzmine/embedding/core";
${CORE_CHECK}${APP_BODY}`;
const CJS_APP = `const { EmbeddingService, Embedder, silentLogger } = require("@jazzmine/embedding");
const { openEncoder } = require("@jazzmine/embedding/core");
${CORE_CHECK}${APP_BODY}`;
/** TypeScript: the public types (options, results) must carry the app through `strict`. */
const TS_APP = `import { EmbeddingService, Embedder, silentLogger, type ExportOptions } from "@jazzmine/embedding";
import { openEncoder } from "@jazzmine/embedding/core";
${CORE_CHECK}
async function main(): Promise<void> {
  const [source, output] = process.argv.slice(2) as [string, string];
  const options: ExportOptions = { quantized: true };
  const model: string = await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(output, options);
  const embedder = await Embedder.load(output);
  const vectors: Float32Array[] = await embedder.embed(["a first text to embed", "and a second one"]);
  await embedder.close();
  console.log(JSON.stringify({ model: model.split(/[\\\\/]/).pop(), vectors: vectors.map((v) => Array.from(v)) }));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
`;

async function runNode(app: string, script: string, args: string[], cwd: string): Promise<AppRun> {
  try {
    const { stdout, stderr } = await run(process.execPath, [script, ...args], { cwd, maxBuffer: 64 * 2 ** 20 });
    return { app, code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { app, code: typeof failed.code === "number" ? failed.code : 1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

/** The arguments package.json's build gives esbuild after tsc (the two onnxruntime/reference worker bundles). */
function workerBundleArgs(): string[] {
  const { scripts } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
  const steps = scripts.build!.split(" && ");
  const args = steps[1]?.split(" ") ?? [];
  if (steps.length !== 2 || args[0] !== "esbuild" || !args.includes("--outdir=dist"))
    throw new Error(`package.json's build is no longer "tsc … && esbuild … --outdir=dist": update packPackage to match it`);
  return args.slice(1);
}

/** Builds the package into `dir` as `npm pack` would from a fresh build, and packs it; returns the tarball's path and files. */
async function packPackage(dir: string, into: string): Promise<{ tarball: string; files: string[] }> {
  await run(process.execPath, [TSC, "-p", join(ROOT, "tsconfig.build.json"), "--outDir", join(dir, "dist")], { cwd: ROOT });
  // Then the worker bundles, with package.json's own esbuild arguments: the apps run the files that ship.
  const bundle = workerBundleArgs().map((arg) => (arg === "--outdir=dist" ? `--outdir=${join(dir, "dist")}` : arg));
  await run(join(ROOT, "node_modules", ".bin", "esbuild"), bundle, { cwd: ROOT });
  for (const entry of ["package.json", "README.md", "LICENSE", "NOTICE", "data"])
    cpSync(join(ROOT, entry), join(dir, entry), { recursive: true });
  // The build just ran; npm pack's `prepare` would build again.
  const { stdout } = await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", into], { cwd: dir });
  const [packed] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  return { tarball: join(into, packed!.filename), files: packed!.files.map((f) => f.path).sort() };
}

/**
 * The apps' package.json and a lockfile pinning the tarball and the repository's own locked
 * versions of its dependencies, so that `npm ci --offline` installs from the npm cache.
 */
function writeConsumerProject(dir: string, tarball: string): void {
  const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as {
    packages: Record<string, { dev?: boolean; version: string }>;
  };
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as Record<string, unknown>;
  const tarballName = tarball.split("/").pop()!;
  const typesNode = lock.packages["node_modules/@types/node"]!.version;
  const manifest = {
    name: "consumer-apps",
    version: "1.0.0",
    private: true,
    dependencies: { "@jazzmine/embedding": `file:${tarballName}` },
    devDependencies: { "@types/node": typesNode },
  };
  const packages: Record<string, unknown> = { "": manifest };
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path !== "" && !entry.dev) packages[path] = entry;
  }
  for (const path of ["node_modules/@types/node", "node_modules/undici-types"]) packages[path] = lock.packages[path];
  packages["node_modules/@jazzmine/embedding"] = {
    version: pkg.version,
    resolved: `file:${tarballName}`,
    integrity: `sha512-${createHash("sha512").update(readFileSync(tarball)).digest("base64")}`,
    license: pkg.license,
    dependencies: pkg.dependencies,
    bin: pkg.bin,
    engines: pkg.engines,
  };
  writeFileSync(join(dir, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  writeFileSync(
    join(dir, "package-lock.json"),
    `${JSON.stringify({ ...manifest, lockfileVersion: 3, requires: true, packages }, null, 2)}\n`,
  );
}

function writeFiles(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}

/** Bundles the ESM app for node as CommonJS (import.meta empty), onnxruntime-node external; with the worker scripts as extra entry points unless `workers` is false. */
async function bundleApp(appsDir: string, outdir: string, workers: boolean): Promise<string[]> {
  const pkgDist = join(appsDir, "node_modules", "@jazzmine", "embedding", "dist");
  const { warnings } = await build({
    entryPoints: {
      app: join(appsDir, "esm", "app.mjs"),
      ...(workers
        ? {
            "session-worker": join(pkgDist, "ort", "session-worker.js"),
            "reference-worker": join(pkgDist, "export", "reference-worker.js"),
          }
        : {}),
    },
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    outdir,
    external: ["onnxruntime-node"],
    // As the README's command line: CommonJS output has no import.meta; the workers are then found beside __filename.
    logOverride: { "empty-import-meta": "silent" },
    logLevel: "silent",
  });
  return warnings.map((w) => w.text);
}

/** Runs every app in a fresh temporary folder, removed afterwards. */
export async function checkConsumerApps(): Promise<ConsumerReport> {
  const work = realpathSync(mkdtempSync(join(tmpdir(), "jazzmine-consumers-")));
  try {
    return await checkIn(work);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function checkIn(work: string): Promise<ConsumerReport> {
  const appsDir = join(work, "apps");
  mkdirSync(appsDir, { recursive: true });
  const seconds: Record<string, number> = {};
  const step = async <T>(name: string, action: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const result = await action();
    seconds[name] = Math.round((performance.now() - started) / 100) / 10;
    return result;
  };
  const { tarball, files } = await step("build and pack", () => packPackage(join(work, "package"), appsDir));
  const source = writeModelFolder(
    join(work, "demo-bert"),
    syntheticBert({ layers: 2, hidden: 64, heads: 2, intermediate: 128, vocab: BUNDLED_VOCAB_SIZE, maxPositions: 128, seed: 2024 }),
  );
  writeConsumerProject(appsDir, tarball);
  await step("npm ci --offline", () => run("npm", ["ci", "--offline", "--no-audit", "--no-fund"], { cwd: appsDir, env: INSTALL_ENV }));

  writeFiles(join(appsDir, "esm"), { "app.mjs": ESM_APP });
  writeFiles(join(appsDir, "cjs"), { "app.cjs": CJS_APP });
  writeFiles(join(appsDir, "ts"), {
    "app.cts": TS_APP,
    "app.mts": TS_APP,
    "tsconfig.json": JSON.stringify({
      // skipLibCheck as `tsc --init` sets it: @huggingface/tokenizers 0.2's declarations (which ours
      // name) use extension-less relative imports that nodenext rejects when libraries are checked.
      compilerOptions: {
        module: "nodenext",
        moduleResolution: "nodenext",
        target: "es2022",
        strict: true,
        skipLibCheck: true,
        types: ["node"],
        outDir: "out",
      },
      files: ["app.cts", "app.mts"],
    }),
  });
  await step("tsc (app)", () => run(process.execPath, [TSC, "-p", join(appsDir, "ts")], { cwd: appsDir }));
  const bundleWarnings = await step("esbuild", async () => [
    ...(await bundleApp(appsDir, join(appsDir, "bundle"), true)),
    ...(await bundleApp(appsDir, join(appsDir, "workerless"), false)),
  ]);

  const exportWith = (app: string, script: string) => runNode(app, join(appsDir, script), [source, join(work, "out", app)], appsDir);
  // Side by side: each app is one process, mostly one core.
  const apps = await step("apps (esm, cjs, ts-commonjs, ts-esm)", () =>
    Promise.all([
      exportWith("esm", "esm/app.mjs"),
      exportWith("cjs", "cjs/app.cjs"),
      exportWith("ts-commonjs", "ts/out/app.cjs"),
      exportWith("ts-esm", "ts/out/app.mjs"),
    ]),
  );
  // The bundles run without the package installed: everything they need is in them or beside them.
  rmSync(join(appsDir, "node_modules", "@jazzmine"), { recursive: true });
  const [bundled, workerless] = await step("apps (bundles)", () =>
    Promise.all([exportWith("esbuild-bundle", "bundle/app.js"), exportWith("esbuild-bundle-without-workers", "workerless/app.js")]),
  );
  apps.push(bundled);
  const workerRelativeImports = ["dist/ort/session-worker.js", "dist/export/reference-worker.js"].flatMap((file) =>
    [...readFileSync(join(work, "package", file), "utf8").matchAll(/from\s+["'](\.{1,2}\/[^"']+)["']/g)].map((m) => `${file}: ${m[1]}`),
  );
  return { packedFiles: files, workerRelativeImports, apps, workerless, bundleWarnings, seconds };
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const report = await checkConsumerApps();
  const summary = {
    seconds: report.seconds,
    packedFiles: report.packedFiles.length,
    apps: [...report.apps, report.workerless].map(({ app, code, stdout, stderr }) => ({
      app,
      code,
      model: stdout ? (JSON.parse(stdout) as { model: string }).model : undefined,
      stderr: stderr.trim().split("\n").pop(),
    })),
  };
  console.log(JSON.stringify(summary, null, 2));
  if (report.apps.some((a) => a.code !== 0) || report.workerless.code === 0) process.exitCode = 1;
}
