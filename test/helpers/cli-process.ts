// The CLI as users run it: a real process (exit codes and signals as a shell sees them).
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { join } from "node:path";
import { inject } from "vitest";
import { ROOT } from "./compiled-entries.js";

export { ROOT };

export interface ProcessRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliProcessOptions {
  env?: NodeJS.ProcessEnv;
  stdin?: string;
  /** Node options before the CLI (e.g. ["--import", "./test/helpers/fs-faults.ts"]). */
  nodeArgs?: string[];
  /** Called with the running child (to signal or kill it). */
  started?: (child: ChildProcessWithoutNullStreams) => void;
}

/**
 * `node` arguments that run `jazzmine-embed` as built from the sources (test/helpers/compiled-build.ts
 * bundles it once per run, as dist/ holds it); `nodeArgs` come first, with tsx when one is a
 * TypeScript preload.
 */
export function cliArgs(nodeArgs: string[] = []): string[] {
  const loader = nodeArgs.some((arg) => arg.endsWith(".ts")) ? ["--import", "tsx"] : [];
  return [...loader, ...nodeArgs, join(inject("compiledBuild"), "cli.js")];
}

/** The same as a shell command line (`node '…/cli.js'`), for pipelines. */
export function cliCommand(): string {
  return ["node", ...cliArgs()].map((arg) => `'${arg}'`).join(" ");
}

/** Runs `jazzmine-embed <args>` in a child process. */
export function cliProcess(args: string[], options: CliProcessOptions = {}): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...cliArgs(options.nodeArgs), ...args], {
      cwd: ROOT,
      env: options.env ?? process.env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.stdin ?? "");
    options.started?.(child);
  });
}
