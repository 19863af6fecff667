// An onnxruntime session in a child process: loading or running a model can at worst fail,
// never take the caller down with it.
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { ObserveSpec, TensorStatistics } from "../quant/tensor-stats.js";
import type { FeedTensor, OutputTensor, SessionSettings, WorkerReply, WorkerRequest } from "./protocol.js";

export class SessionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SessionError";
  }
}

/** A request before the session numbers it. */
type RequestBody = WorkerRequest extends infer R ? (R extends unknown ? Omit<R, "id"> : never) : never;

const DEFAULT_TIMEOUT_MS = 10 * 60_000;

/** The worker runs as compiled JS; from TypeScript sources (tests) it runs through tsx. */
function workerEntry(): { path: string; execArgv: string[] } {
  const fromSource = import.meta.url.endsWith(".ts");
  const url = new URL(fromSource ? "./session-worker.ts" : "./session-worker.js", import.meta.url);
  return { path: fileURLToPath(url), execArgv: fromSource ? ["--import", "tsx"] : [] };
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
      this.exitReason =
        (signal ? `onnxruntime crashed (${signal})` : `the onnxruntime worker exited (code ${code})`) + (said ? ` [${said}]` : "");
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
    const entry = workerEntry();
    const child = fork(entry.path, [], {
      execArgv: entry.execArgv,
      serialization: "advanced",
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    return new IsolatedSession(child, timeoutMs);
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

  async run(feeds: Record<string, FeedTensor>, outputNames?: string[]): Promise<Record<string, OutputTensor>> {
    const reply = await this.request({ kind: "run", feeds, ...(outputNames ? { outputNames } : {}) });
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
