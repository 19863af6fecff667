// Vitest globalSetup: bundles the CLI and the child-process entry points (onnxruntime session,
// reference forward, bench export probe) from the sources once per run, as dist/ would hold them,
// so that the processes tests start boot as a user's do instead of compiling TypeScript through
// tsx each time (one-off estimate: ~0.4 s of CPU per worker, ~1.2 s per CLI).
// test/helpers/compiled-workers.ts points the tests' forks at them; test/helpers/cli-process.ts
// runs the bundled CLI.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { build, version as esbuildVersion } from "esbuild";
import type { TestProject } from "vitest/node";
import { COMPILED_ENTRIES, ROOT } from "./compiled-entries.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** The folder holding the bundled CLI and worker entry points of this run's sources. */
    compiledBuild: string;
  }
}

/** The sources' hash: a folder per version, so that runs of other checkouts' states never mix. */
function sourcesHash(): string {
  const hash = createHash("sha256").update(esbuildVersion);
  const src = join(ROOT, "src");
  for (const file of (readdirSync(src, { recursive: true }) as string[]).filter((f) => f.endsWith(".ts")).sort()) {
    hash.update(file).update(readFileSync(join(src, file)));
  }
  return hash.digest("hex").slice(0, 16);
}

export default async function setup(project: TestProject): Promise<void> {
  // Two levels below the root, as dist/<file>.js is: the sources' "../../data" paths still resolve.
  const cache = join(ROOT, ".cache");
  const dir = join(cache, `test-build-${sourcesHash()}`);
  if (!existsSync(dir)) {
    mkdirSync(cache, { recursive: true });
    const staging = `${dir}.${process.pid}.tmp`;
    await build({
      entryPoints: COMPILED_ENTRIES.map((entry) => join(ROOT, entry)),
      bundle: true,
      splitting: true,
      platform: "node",
      format: "esm",
      target: "node20",
      packages: "external",
      outdir: staging,
      entryNames: "[name]",
      logLevel: "error",
    });
    // Another run may have finished the same build meanwhile: either copy is the same.
    if (existsSync(dir)) rmSync(staging, { recursive: true, force: true });
    else renameSync(staging, dir);
  }
  // Earlier sources' builds (a staging folder may be another run's build in progress).
  for (const old of readdirSync(cache).filter((f) => /^test-build-[0-9a-f]+$/.test(f) && join(cache, f) !== dir)) {
    rmSync(join(cache, old), { recursive: true, force: true });
  }
  project.provide("compiledBuild", dir);
}
