// The caller's side of an onnxruntime session that answers the worker protocol (protocol.ts):
// numbered requests, a timeout each, every pending request failed when the session dies. A child
// process, a Web Worker and a session in this thread differ only in how a request travels.
import { onAbort } from "../common/abort.js";
import type { ObserveSpec, TensorStatistics } from "../observers/tensor-stats.js";
import type { FeedTensor, OutputTensor, SessionSettings, TokenPooling, WorkerReply, WorkerRequest } from "./protocol.js";

export class SessionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SessionError";
  }
}

/** A request before the session numbers it. */
export type RequestBody = WorkerRequest extends infer R ? (R extends unknown ? Omit<R, "id"> : never) : never;

export const DEFAULT_TIMEOUT_MS = 10 * 60_000;

export abstract class RequestingSession {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }>();
  /** Why the session can no longer answer (set once it died or was closed). */
  protected exitReason: string | undefined;
  private unsubscribe: () => void = () => {};
  inputNames: string[] = [];
  outputNames: string[] = [];

  /** The model loaded last (named in error messages). */
  modelPath = "(no model loaded yet)";

  /** `timeoutMs` undefined: no timeout (a session in this thread cannot be stopped mid-run anyway). */
  constructor(private readonly timeoutMs: number | undefined) {}

  /**
   * An interrupted export stops its workers: their pending requests fail, and the export unwinds.
   * Called last in each subclass's constructor (close() needs what the subclass holds): a session
   * started under a signal that already fired is closed at once.
   */
  protected closeOnAbort(): void {
    this.unsubscribe = onAbort(() => this.close());
  }

  /** Delivers `request` to the session; its reply comes back through `deliver`. */
  protected abstract send(request: WorkerRequest): void;

  /** Ends the session (what it holds is freed). */
  abstract close(): void | Promise<void>;

  /**
   * Whether a request awaits its reply: a child process keeps the caller's process alive only
   * then, so that an Embedder nobody closed does not stop Node from exiting.
   */
  protected onBusyChange(_busy: boolean): void {}

  private forget(id: number): void {
    if (this.pending.delete(id) && this.pending.size === 0) this.onBusyChange(false);
  }

  /** A reply from the session. */
  protected deliver(reply: WorkerReply): void {
    const waiter = this.pending.get(reply.id);
    this.forget(reply.id);
    waiter?.resolve(reply);
  }

  /** The session is gone: every pending request fails with `reason`. */
  protected died(reason: string): void {
    this.exitReason = reason;
    this.unsubscribe();
    const waiters = [...this.pending.values()];
    if (this.pending.size > 0) this.onBusyChange(false);
    this.pending.clear();
    for (const waiter of waiters) waiter.reject(new SessionError(`${reason} while working on ${this.modelPath}`));
  }

  /** The load request for `modelPath` (a Web Worker also sends the file's bytes). */
  protected loadRequest(modelPath: string, settings: SessionSettings): RequestBody {
    return { kind: "load", modelPath, settings };
  }

  /** Creates the session for `modelPath` in the worker (replacing any previous one). */
  async load(modelPath: string, settings: SessionSettings = {}): Promise<void> {
    this.modelPath = modelPath;
    const reply = await this.request(this.loadRequest(modelPath, settings));
    this.inputNames = reply.inputNames ?? [];
    this.outputNames = reply.outputNames ?? [];
  }

  async run(feeds: Record<string, FeedTensor>, outputNames?: string[], pool?: TokenPooling): Promise<Record<string, OutputTensor>> {
    const reply = await this.request({ kind: "run", feeds, ...(outputNames ? { outputNames } : {}), ...(pool ? { pool } : {}) });
    return (reply.ok && reply.outputs) || {};
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

  private request(body: RequestBody): Promise<WorkerReply & { ok: true }> {
    if (this.exitReason) return Promise.reject(new SessionError(`${this.exitReason}; cannot use ${this.modelPath}`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timeoutMs = this.timeoutMs;
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              this.forget(id);
              this.close();
              reject(new SessionError(`onnxruntime did not answer within ${timeoutMs / 1000} s on ${this.modelPath}`));
            }, timeoutMs);
      if (this.pending.size === 0) this.onBusyChange(true);
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
      this.send({ ...body, id } as WorkerRequest);
    });
  }
}
