// Vitest setupFile: a fork of one of the sources' child-process modules (src/…/session-worker.ts
// under tsx, as childModuleEntry asks when the code runs from source) starts that module's
// bundle from test/helpers/compiled-build.ts instead: the same sources, compiled once per run
// rather than by tsx in every child. test/worker-script.test.ts still boots a worker from source.
// fork is patched as test/helpers/fs-faults.ts patches fs: on the module, synced to its ESM exports.
import childProcess, { type ForkOptions } from "node:child_process";
import { existsSync } from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { basename, join } from "node:path";
import { inject } from "vitest";
import { COMPILED_ENTRIES, ROOT } from "./compiled-entries.js";

const build = inject("compiledBuild");
const compiled = new Map(COMPILED_ENTRIES.map((entry) => [join(ROOT, entry), join(build, `${basename(entry, ".ts")}.js`)]));
const sourceFork = childProcess.fork;

/** execArgv without the tsx loader the source entry needed. */
function withoutTsx(execArgv: string[] = []): string[] {
  return execArgv.filter(
    (arg, i) => !(arg === "tsx" && execArgv[i - 1] === "--import") && !(arg === "--import" && execArgv[i + 1] === "tsx"),
  );
}

function fork(modulePath: string | URL, argsOrOptions?: readonly string[] | ForkOptions, maybeOptions?: ForkOptions) {
  const [args, options] = Array.isArray(argsOrOptions) ? [argsOrOptions, maybeOptions] : [[], argsOrOptions as ForkOptions | undefined];
  const bundle = compiled.get(String(modulePath));
  if (!bundle || !existsSync(bundle)) return sourceFork(modulePath, args, options);
  return sourceFork(bundle, args, { ...options, execArgv: withoutTsx(options?.execArgv) });
}

childProcess.fork = fork as typeof childProcess.fork;
syncBuiltinESMExports();
