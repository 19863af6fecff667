// The CLI as users run it: a real process (exit codes and signals as a shell sees them).
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

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

/** Runs `jazzmine-embed <args>` from the sources in a child process. */
export function cliProcess(args: string[], options: CliProcessOptions = {}): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", ...(options.nodeArgs ?? []), "src/cli/cli.ts", ...args], {
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
