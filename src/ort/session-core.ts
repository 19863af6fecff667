// One onnxruntime session and its calibration observers, answering the worker protocol. Typed
// against onnxruntime-common, so that onnxruntime-node (a child process in Node) and
// onnxruntime-web (a Web Worker, or the caller's own thread) run the same code.
import type { InferenceSession, Tensor, TypedTensor } from "onnxruntime-common";
import { StatisticsCollector } from "../observers/tensor-stats.js";
import { pooledOutput } from "./feeds.js";
import type { FeedTensor, OutputTensor, SessionSettings, WorkerReply, WorkerRequest } from "./protocol.js";

/** What the core needs of an onnxruntime package (onnxruntime-node and onnxruntime-web both have it). */
export interface OrtApi {
  InferenceSession: { create(model: string | Uint8Array, options?: InferenceSession.SessionOptions): Promise<InferenceSession> };
  Tensor: new (type: "int64" | "float32", data: BigInt64Array | Float32Array, dims: readonly number[]) => Tensor;
}

export function ortTensorOf(api: OrtApi, feed: FeedTensor): Tensor {
  return new api.Tensor(feed.type, feed.data, feed.dims);
}

export function sessionOptions(settings: SessionSettings): InferenceSession.SessionOptions {
  return {
    graphOptimizationLevel: settings.graphOptimizationLevel ?? "all",
    ...(settings.intraOpNumThreads ? { intraOpNumThreads: settings.intraOpNumThreads } : {}),
    ...(settings.prepack === false ? { extra: { session: { disable_prepacking: "1" } } } : {}),
  };
}

export class SessionCore {
  private session: InferenceSession | undefined;
  private readonly statistics = new StatisticsCollector();
  /** Requests being answered: a session is released only once none runs on it (a release under a run crashes onnxruntime). */
  private readonly working = new Set<Promise<unknown>>();

  /** `readModel` gives the bytes of a path for onnxruntime builds that cannot read files (web). */
  constructor(
    private readonly api: OrtApi,
    private readonly readModel?: (path: string) => Uint8Array,
  ) {}

  handle(request: WorkerRequest): Promise<WorkerReply> {
    const earlier = [...this.working];
    const answer = this.answer(request, earlier);
    const settled = answer.then(
      () => {},
      () => {},
    );
    this.working.add(settled);
    void settled.then(() => this.working.delete(settled));
    return answer;
  }

  private async answer(request: WorkerRequest, earlier: Array<Promise<unknown>>): Promise<WorkerReply> {
    if (request.kind === "load") {
      await Promise.all(earlier);
      await this.session?.release(); // a reused worker holds one model at a time, and its statistics
      this.session = undefined;
      this.statistics.collect();
      const model = request.modelBytes ?? (this.readModel ? this.readModel(request.modelPath) : request.modelPath);
      this.session = await this.api.InferenceSession.create(model, sessionOptions(request.settings));
      return { id: request.id, ok: true, inputNames: [...this.session.inputNames], outputNames: [...this.session.outputNames] };
    }
    if (request.kind === "collect") return { id: request.id, ok: true, statistics: this.statistics.collect(request.keep) };
    const session = this.session;
    if (!session) throw new Error("no model loaded");
    const feeds: Record<string, Tensor> = {};
    for (const [name, feed] of Object.entries(request.feeds)) feeds[name] = ortTensorOf(this.api, feed);
    if (request.kind === "observe") {
      const tensors = request.spec.tensors;
      const results = await session.run(
        feeds,
        tensors.map((t) => t.name),
      );
      for (const tensor of tensors) {
        const result = results[tensor.name]!;
        if (result.type !== "float32") throw new Error(`${tensor.name} is ${result.type}, not float32: it cannot be calibrated`);
        this.statistics.observe(tensor, (result as TypedTensor<"float32">).data, result.dims);
      }
      return { id: request.id, ok: true };
    }
    const results = await session.run(feeds, request.outputNames ?? session.outputNames);
    const outputs: Record<string, OutputTensor> = {};
    for (const [name, tensor] of Object.entries(results)) {
      const output = { data: tensor.data as Float32Array, dims: [...tensor.dims] };
      outputs[name] = request.pool ? pooledOutput(output, request.feeds, request.pool) : output;
    }
    return { id: request.id, ok: true, outputs };
  }

  async release(): Promise<void> {
    await Promise.all([...this.working]);
    await this.session?.release();
    this.session = undefined;
  }
}
