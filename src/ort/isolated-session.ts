// An onnxruntime session in a child process: loading or running a model can at worst fail,
// never take the caller down with it.
import { throwIfAborted } from "../common/abort.js";
import { type ChildProcess, fork } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { saysOutOfMemory } from "../common/errors.js";
import type { ObserveSpec, TensorStatistics } from "../observers/tensor-stats.js";
import type { FeedTensor, OutputTensor, SessionSettings, TokenPooling, WorkerReply, WorkerRequest } from "./protocol.js";
import { DEFAULT_TIMEOUT_MS, RequestingSession } from "./requesting-session.js";

export { SessionError } from "./requesting-session.js";

/**
 * glibc malloc settings for the worker (appended to the caller's GLIBC_TUNABLES, which win):
 * onnxruntime copies a model's weights two or three times while it loads it, and every fresh
 * page costs a fault — on VMs a costly one (bench/results records it: ~3 ms per MiB here).
 * Transparent huge pages (hugetlb=1), a fixed mmap threshold and no heap trimming let those
 * copies reuse memory already faulted in (session load times: bench/results/latest.md). Only
 * the allocator's policy changes; the same onnxruntime runs the same file with the same
 * options. Other C libraries ignore the variable.
 */
const WORKER_MALLOC_TUNABLES: Record<string, string> = {
  "glibc.malloc.hugetlb": "1",
  "glibc.malloc.mmap_threshold": String(32 * 2 ** 20),
  "glibc.malloc.trim_threshold": String(2 ** 32 - 1),
};

export function workerEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const given = env.GLIBC_TUNABLES ? env.GLIBC_TUNABLES.split(":") : [];
  const named = new Set(given.map((entry) => entry.split("=")[0]));
  const added = Object.entries(WORKER_MALLOC_TUNABLES)
    .filter(([key]) => !named.has(key))
    .map(([key, value]) => `${key}=${value}`);
  return { ...env, GLIBC_TUNABLES: [...given, ...added].join(":") };
}

/** A worker script that is not where the code that forks it looks for it (a bundle without it). */
export class WorkerScriptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WorkerScriptError";
  }
}

/**
 * How to run module `name`, a sibling of `moduleUrl` (an import.meta.url), as a child process:
 * compiled JS as it is; from TypeScript sources (tests) through tsx. In a CommonJS bundle
 * (esbuild --format=cjs) import.meta is empty: the sibling is then the bundle's (__filename).
 */
export function childModuleEntry(moduleUrl: string | undefined, name: string): { path: string; execArgv: string[] } {
  const here = moduleUrl ?? (typeof __filename === "string" ? pathToFileURL(__filename).href : undefined);
  if (!here) throw new WorkerScriptError(`cannot tell where ${name}.js lies: this code runs with neither import.meta.url nor __filename`);
  const fromSource = here.endsWith(".ts");
  const url = new URL(`./${name}${fromSource ? ".ts" : ".js"}`, here);
  return { path: fileURLToPath(url), execArgv: fromSource ? ["--import", "tsx"] : [] };
}

/**
 * Forks the worker module `name` beside `moduleUrl` (from source under tsx, or built), with the
 * worker allocator settings and an IPC channel; `stderr` piped (quoted on a crash) or inherited.
 * A missing script is a WorkerScriptError naming it, before any model is involved.
 */
export function forkWorker(moduleUrl: string | undefined, name: string, stderr: "pipe" | "inherit"): ChildProcess {
  const entry = childModuleEntry(moduleUrl, name);
  if (!existsSync(entry.path)) {
    throw new WorkerScriptError(
      `the worker script ${entry.path} is missing: @jazzmine/embedding runs onnxruntime and the reference forward in child ` +
        `processes started from dist/ort/session-worker.js and dist/export/reference-worker.js; a bundle must emit both ` +
        `beside itself under those base names (see "Use it in an app" in the README), or leave @jazzmine/embedding external`,
    );
  }
  return fork(entry.path, [], {
    execArgv: entry.execArgv,
    serialization: "advanced",
    env: workerEnvironment(),
    stdio: ["ignore", "ignore", stderr, "ipc"],
  });
}

/** An onnxruntime session isolated from the caller as the current SessionIsolation does it. */
export interface IsolatedSession {
  inputNames: string[];
  outputNames: string[];
  /** The model loaded last (named in error messages). */
  modelPath: string;
  /** The worker's process id, for a child process (tests use it to simulate a native crash). */
  readonly pid?: number | undefined;
  load(modelPath: string, settings?: SessionSettings): Promise<void>;
  /** The named outputs (default all); with `pool`, each token-vector output pooled per row where onnxruntime runs. */
  run(feeds: Record<string, FeedTensor>, outputNames?: string[], pool?: TokenPooling): Promise<Record<string, OutputTensor>>;
  observe(feeds: Record<string, FeedTensor>, spec: ObserveSpec): Promise<void>;
  collectStatistics(keep?: boolean): Promise<Record<string, TensorStatistics>>;
  /** Ends the session; what it returns settles once its memory is freed (a session in this thread waits for a run in progress). */
  close(): void | Promise<void>;
}

/**
 * How onnxruntime sessions are kept apart from the exporting code: a child process in Node (a
 * native crash or out-of-memory is an error, not the end of the caller), a Web Worker in a
 * browser, the caller's own thread where neither exists.
 */
export interface SessionIsolation {
  readonly name: "child-process" | "web-worker" | "in-process";
  start(timeoutMs: number): IsolatedSession;
  /** Whether the reference forward of a large model may run in a child process (reference-worker.ts). */
  readonly forksReference: boolean;
}

export const childProcessIsolation: SessionIsolation = {
  name: "child-process",
  start: (timeoutMs) => ChildProcessSession.start(timeoutMs),
  forksReference: true,
};

let isolation = childProcessIsolation;

/** Every session started from now on is isolated as `next` says (a browser build sets its own). */
export function setSessionIsolation(next: SessionIsolation): void {
  isolation = next;
}

export function sessionIsolation(): SessionIsolation {
  return isolation;
}

export const IsolatedSession = {
  /**
   * Starts a worker now (node + onnxruntime boot in the background) so that a later `load`
   * only pays for the model itself.
   */
  start(timeoutMs = DEFAULT_TIMEOUT_MS): IsolatedSession {
    return isolation.start(timeoutMs);
  },

  /** Starts a worker and loads `modelPath` in it. */
  open(modelPath: string, settings: SessionSettings = {}, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<IsolatedSession> {
    return loadedSession(IsolatedSession.start(timeoutMs), modelPath, settings);
  },
};

/** `session` with `modelPath` loaded; closed when the load fails. */
export async function loadedSession<S extends Pick<IsolatedSession, "load" | "close">>(
  session: S,
  modelPath: string,
  settings: SessionSettings,
): Promise<S> {
  try {
    await session.load(modelPath, settings);
    return session;
  } catch (error) {
    session.close();
    throw error;
  }
}

/** onnxruntime-node in a child process (session-worker.ts). */
class ChildProcessSession extends RequestingSession implements IsolatedSession {
  /** Tail of the worker's stderr, quoted when it dies. */
  private stderrTail = "";

  private constructor(
    private readonly child: ChildProcess,
    timeoutMs: number,
  ) {
    super(timeoutMs);
    child.on("message", (reply: WorkerReply) => this.deliver(reply));
    child.stderr?.on("data", (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-1000);
    });
    child.on("exit", (code, signal) => {
      const said = this.stderrTail.trim().split("\n").pop();
      // SIGTRAP is how V8 and the allocator stop a process whose allocation failed; bad_alloc and the like say it outright.
      const memory = signal === "SIGTRAP" || saysOutOfMemory(this.stderrTail);
      this.died(
        (memory
          ? `onnxruntime ran out of memory (${signal ?? `exit code ${code}`})`
          : signal
            ? `onnxruntime crashed (${signal})`
            : `the onnxruntime worker exited (code ${code})`) + (said ? ` [${said}]` : ""),
      );
    });
    // Node promises no "exit" after "error" (a failed spawn, a send on a closed channel): the
    // pending requests fail now, unless the worker's death already explained itself.
    child.on("error", (error) => {
      if (!this.exitReason) this.died(`the onnxruntime worker failed: ${error.message}`);
    });
    // Only a pending request keeps this process alive (onBusyChange); stderr never does.
    (child.stderr as { unref?: () => void } | null)?.unref?.();
    this.onBusyChange(false);
    this.closeOnAbort();
  }

  protected override onBusyChange(busy: boolean): void {
    if (busy) {
      this.child.ref();
      this.child.channel?.ref();
    } else {
      this.child.unref();
      this.child.channel?.unref();
    }
  }

  static start(timeoutMs: number): ChildProcessSession {
    throwIfAborted(); // an interrupted export forks nothing more
    return new ChildProcessSession(forkWorker(import.meta.url, "session-worker", "pipe"), timeoutMs);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  protected send(request: WorkerRequest): void {
    this.child.send(request);
  }

  close(): void {
    if (this.child.connected) this.child.disconnect();
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill();
  }
}
