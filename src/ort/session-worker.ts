// Child process hosting one onnxruntime session. onnxruntime can crash natively (SIGSEGV)
// on graphs it dislikes; in a child that is an ordinary, reportable failure.
import * as ort from "onnxruntime-node";
import { StatisticsCollector } from "../observers/tensor-stats.js";
import { pooledOutput } from "./feeds.js";
import { ortTensor } from "./ort-feeds.js";
import type { OutputTensor, WorkerReply, WorkerRequest } from "./protocol.js";
import { errorMessage } from "../common/messages.js";

let session: ort.InferenceSession | undefined;
const statistics = new StatisticsCollector();

async function handle(request: WorkerRequest): Promise<WorkerReply> {
  if (request.kind === "load") {
    simulateCrashForTests(request.modelPath);
    await session?.release(); // a reused worker holds one model at a time, and its statistics
    session = undefined;
    statistics.collect();
    session = await ort.InferenceSession.create(request.modelPath, {
      graphOptimizationLevel: request.settings.graphOptimizationLevel ?? "all",
      ...(request.settings.intraOpNumThreads ? { intraOpNumThreads: request.settings.intraOpNumThreads } : {}),
      ...(request.settings.prepack === false ? { extra: { session: { disable_prepacking: "1" } } } : {}),
    });
    return { id: request.id, ok: true, inputNames: [...session.inputNames], outputNames: [...session.outputNames] };
  }
  if (request.kind === "collect") return { id: request.id, ok: true, statistics: statistics.collect(request.keep) };
  if (!session) throw new Error("no model loaded");
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(request.feeds)) feeds[name] = ortTensor(t);
  if (request.kind === "observe") {
    const tensors = request.spec.tensors;
    const results = await session.run(
      feeds,
      tensors.map((t) => t.name),
    );
    for (const tensor of tensors) {
      const result = results[tensor.name]!;
      if (result.type !== "float32") throw new Error(`${tensor.name} is ${result.type}, not float32: it cannot be calibrated`);
      statistics.observe(tensor, result.data as Float32Array, result.dims);
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

/**
 * Tests prove that a native onnxruntime crash is survived; no graph crashes onnxruntime on
 * demand, so a worker whose environment names this model path kills itself as a crash would.
 */
function simulateCrashForTests(modelPath: string): void {
  const marker = process.env.JAZZMINE_SIMULATE_ORT_CRASH;
  if (marker && modelPath.includes(marker)) process.kill(process.pid, "SIGSEGV");
}

process.on("message", (request: WorkerRequest) => {
  handle(request).then(
    (reply) => process.send!(reply),
    (error: unknown) => process.send!({ id: request.id, ok: false, error: errorMessage(error) }),
  );
});
process.on("disconnect", () => process.exit(0));
