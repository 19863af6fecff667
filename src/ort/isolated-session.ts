// An onnxruntime session in a child process: loading or running a model can at worst fail,
// never take the caller down with it.
import { type ChildProcess, fork } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { onAbort } from "../common/abort.js";
import { saysOutOfMemory } from "../common/errors.js";
import type { ObserveSpec, TensorStatistics } from "../observers/tensor-stats.js";
import type { FeedTensor, OutputTensor, SessionSettings, TokenPooling, WorkerReply, WorkerRequest } from "./protocol.js";

export class SessionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SessionError";
  }
}

/** A request before the session numbers it. */
type RequestBody = WorkerRequest extends infer R ? (R extends unknown ? Omit<R, "id"> : never) : never;

const DEFAULT_TIMEOUT_MS = 10 * 60_000;

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

export class IsolatedSession {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }>();
  private exitReason: string | undefined;
  /** Tail of the worker's stderr, quoted when it dies. */
  private stderrTail = "";
  inputNames: string[] = [];
  outputNames: string[] = [];

  /** The model loaded last (named in error messages). */
  modelPath = "(no model loaded yet)";

  private constructor(
    private readonly child: ChildProcess,
    private readonly timeoutMs: number,
  ) {
    child.on("message", (reply: WorkerReply) => {
      const waiter = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      waiter?.resolve(reply);
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-1000);
    });
    child.on("exit", (code, signal) => {
      const said = this.stderrTail.trim().split("\n").pop();
      // SIGTRAP is how V8 and the allocator stop a process whose allocation failed; bad_alloc and the like say it outright.
      const memory = signal === "SIGTRAP" || saysOutOfMemory(this.stderrTail);
      this.exitReason =
        (memory
          ? `onnxruntime ran out of memory (${signal ?? `exit code ${code}`})`
          : signal
            ? `onnxruntime crashed (${signal})`
            : `the onnxruntime worker exited (code ${code})`) + (said ? ` [${said}]` : "");
      for (const waiter of this.pending.values()) waiter.reject(new SessionError(`${this.exitReason} while working on ${this.modelPath}`));
      this.pending.clear();
    });
    child.on("error", (error) => {
      this.exitReason = `the onnxruntime worker failed: ${error.message}`;
    });
  }

  /**
   * Starts a worker now (node + onnxruntime boot in the background) so that a later `load`
   * only pays for the model itself.
   */
  static start(timeoutMs = DEFAULT_TIMEOUT_MS): IsolatedSession {
    const child = forkWorker(import.meta.url, "session-worker", "pipe");
    const session = new IsolatedSession(child, timeoutMs);
    // An interrupted export stops its workers: their pending requests fail, and the export unwinds.
    const unsubscribe = onAbort(() => session.close());
    child.once("exit", unsubscribe);
    return session;
  }

  /** Starts a worker and loads `modelPath` in it. */
  static async open(modelPath: string, settings: SessionSettings = {}, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<IsolatedSession> {
    const session = IsolatedSession.start(timeoutMs);
    try {
      await session.load(modelPath, settings);
      return session;
    } catch (error) {
      session.close();
      throw error;
    }
  }

  /** Creates the session for `modelPath` in the worker (replacing any previous one). */
  async load(modelPath: string, settings: SessionSettings = {}): Promise<void> {
    this.modelPath = modelPath;
    const reply = await this.request({ kind: "load", modelPath, settings });
    this.inputNames = reply.inputNames ?? [];
    this.outputNames = reply.outputNames ?? [];
  }

  /** The named outputs (default all); with `pool`, each token-vector output pooled per row in the worker. */
  async run(feeds: Record<string, FeedTensor>, outputNames?: string[], pool?: TokenPooling): Promise<Record<string, OutputTensor>> {
    const reply = await this.request({ kind: "run", feeds, ...(outputNames ? { outputNames } : {}), ...(pool ? { pool } : {}) });
    return (reply.ok && reply.outputs) || {};
  }

  /** The worker's process id (tests use it to simulate a native crash). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Runs a batch and folds `spec`'s outputs into observers held in the worker. */
  async observe(feeds: Record<string, FeedTensor>, spec: ObserveSpec): Promise<void> {
    await this.request({ kind: "observe", feeds, spec });
  }

  /** The worker's observer states since the last reset; `keep` lets them go on accumulating. */
  async collectStatistics(keep = false): Promise<Record<string, TensorStatistics>> {
    const reply = await this.request({ kind: "collect", keep });
    return reply.statistics ?? {};
  }

  close(): void {
    if (this.child.connected) this.child.disconnect();
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill();
  }

  private request(body: RequestBody): Promise<WorkerReply & { ok: true }> {
    if (this.exitReason) return Promise.reject(new SessionError(`${this.exitReason}; cannot use ${this.modelPath}`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.close();
        reject(new SessionError(`onnxruntime did not answer within ${this.timeoutMs / 1000} s on ${this.modelPath}`));
      }, this.timeoutMs);
      this.pending.set(id, {
        resolve: (reply) => {
          clearTimeout(timer);
          if (reply.ok) resolve(reply);
          else reject(new SessionError(`onnxruntime failed on ${this.modelPath}: ${reply.error}`));
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.child.send({ ...body, id } as WorkerRequest);
    });
  }
}
