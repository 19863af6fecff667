// Sessions where no child process can be started: in a Web Worker (a browser), or in the
// caller's own thread. Both run SessionCore on an onnxruntime-common API (onnxruntime-web).
import { errorMessage } from "../common/messages.js";
import type { SessionSettings, WorkerReply, WorkerRequest } from "./protocol.js";
import { DEFAULT_TIMEOUT_MS, RequestingSession, type RequestBody } from "./requesting-session.js";
import { type OrtApi, SessionCore } from "./session-core.js";

/** What the caller's side needs of a Web Worker (the DOM's Worker has it). */
export interface WorkerPort {
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
  terminate(): void;
  // The DOM types these handlers with its own event classes; `any` lets a DOM Worker be given.
  onmessage: ((event: any) => void) | null; // eslint-disable-line @typescript-eslint/no-explicit-any
  onerror: ((event: any) => void) | null; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** Session replies (the protocol's) answering the requests a worker port receives: the Web Worker's side. */
export function serveSessionRequests(
  core: SessionCore,
  receive: (handler: (request: WorkerRequest) => void) => void,
  reply: (reply: WorkerReply) => void,
): void {
  receive((request) => {
    core.handle(request).then(reply, (error: unknown) => reply({ id: request.id, ok: false, error: errorMessage(error) }));
  });
}

/** onnxruntime in a Web Worker; the model's bytes travel with the load request. */
export class WebWorkerSession extends RequestingSession {
  constructor(
    private readonly worker: WorkerPort,
    private readonly readModel: (path: string) => Uint8Array,
    timeoutMs = DEFAULT_TIMEOUT_MS,
  ) {
    super(timeoutMs);
    worker.onmessage = (event: { data: WorkerReply }) => this.deliver(event.data);
    worker.onerror = (event: { message?: string }) =>
      this.died(`the onnxruntime Web Worker failed${event.message ? ` (${event.message})` : ""}`);
    this.closeOnAbort();
  }

  protected override loadRequest(modelPath: string, settings: SessionSettings): RequestBody {
    // A copy in a buffer of its own (a Buffer's slice is a view, maybe of a pool): the transfer detaches it.
    return { kind: "load", modelPath, settings, modelBytes: new Uint8Array(this.readModel(modelPath)) };
  }

  protected send(request: WorkerRequest): void {
    const transfer: ArrayBuffer[] = request.kind === "load" && request.modelBytes ? [request.modelBytes.buffer as ArrayBuffer] : [];
    this.worker.postMessage(request, transfer);
  }

  close(): void {
    if (this.exitReason) return;
    this.worker.terminate();
    this.died("the onnxruntime Web Worker was closed");
  }
}

/**
 * onnxruntime in this thread: no isolation (a native crash or hang is the caller's), and no
 * timeout (a run in progress cannot be stopped; releasing its session under it would crash).
 */
export class InProcessSession extends RequestingSession {
  private readonly core: SessionCore;

  constructor(api: OrtApi, readModel: ((path: string) => Uint8Array) | undefined) {
    super(undefined);
    this.core = new SessionCore(api, readModel);
    this.closeOnAbort();
  }

  protected send(request: WorkerRequest): void {
    this.core.handle(request).then(
      (reply) => this.deliver(reply),
      (error: unknown) => this.deliver({ id: request.id, ok: false, error: errorMessage(error) }),
    );
  }

  /** Fails what is pending at once; the session itself is released once no run is in progress on it. */
  close(): Promise<void> {
    if (this.exitReason) return Promise.resolve();
    this.died("the onnxruntime session was closed");
    return this.core.release().catch(() => {}); // nothing is left to tell: the caller closed it
  }
}
