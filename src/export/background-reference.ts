// The reference forward of the verification inputs, started before the graph is built so that
// it runs (in a child process, reference-worker.ts) while the exporting process builds and
// writes the graph.
import { currentAbortSignal, onAbort } from "../common/abort.js";
import type { TokenBatch } from "../arch/architecture.js";
import { ConfigError, ConfigReader } from "../arch/config.js";
import { type LoadedEncoder } from "../arch/encoder.js";
import { referenceOutputsOf } from "../heads/graph.js";
import type { HeadArrays } from "../heads/head.js";
import { type TaskSpec, headsFor } from "../heads/tasks.js";
import { architectureFor } from "../arch/registry.js";
import { WeightError } from "../checkpoint/weights.js";
import { folderFiles } from "../common/node-files.js";
import { forkWorker, sessionIsolation } from "../ort/isolated-session.js";
import type { ReferenceReply, ReferenceRequest } from "./reference-worker.js";

/** The reference outputs of some batches, being computed (see startReference). */
export interface PendingReference {
  batches: TokenBatch[];
  /**
   * The outputs. Computed in this process, they are computed on the first call: after the
   * caller's own work (building and writing the graph), while onnxruntime loads it.
   */
  outputs(): Promise<HeadArrays[]>;
  /** Stops a child computation that still runs (an export that failed before verifying). */
  cancel(): void;
}

/** Below this many parameters the reference takes less time than starting a process for it. */
const REFERENCE_PROCESS_MIN_PARAMETERS = 8_000_000;

/**
 * Starts the reference forward on each of `batches` (the verification inputs). For a model of some size
 * loaded from its folder as is (the registry's template for its config.json), it runs in a
 * child process on that folder — the same function on the same weights and tokens, so the same
 * numbers — while this process builds and writes the graph. Small models, and any other encoder
 * (a test's modified template), are computed here when asked for. `inChild` forces either way
 * (tests).
 */
export function startReference(encoder: LoadedEncoder, batches: TokenBatch[], task: TaskSpec, inChild?: boolean): PendingReference {
  const compute = () => {
    const heads = headsFor(encoder, task);
    return referenceOutputsOf(encoder, heads, batches);
  };
  const forks = sessionIsolation().forksReference && parameterCount(encoder) >= REFERENCE_PROCESS_MIN_PARAMETERS && reloadsAsIs(encoder);
  if (!(inChild ?? forks)) {
    let computed: Promise<HeadArrays[]> | undefined;
    return { batches, outputs: () => (computed ??= attempt(compute)), cancel: () => {} };
  }
  // The worker's allocator reuses the memory of the weights it has read (see workerEnvironment).
  const child = forkWorker(import.meta.url, "reference-worker", "inherit");
  let settled = false;
  const signal = currentAbortSignal();
  const outputs = new Promise<HeadArrays[]>((resolve, reject) => {
    // An interrupted export stops the worker and does not compute the reference itself.
    const unsubscribe = onAbort(() => {
      if (!settled) reject(signal!.reason);
      settled = true;
      child.kill();
    });
    child.once("exit", unsubscribe);
    child.once("message", (reply: ReferenceReply) => {
      settled = true;
      child.disconnect();
      if (reply.ok) resolve(reply.outputs);
      else
        reject(
          reply.name === "WeightError"
            ? new WeightError(reply.message)
            : reply.name === "ConfigError"
              ? new ConfigError(reply.message)
              : new Error(reply.message),
        );
    });
    // A worker that died before replying (out of memory, killed) is no verdict on the model:
    // the reference is computed here instead.
    child.once("exit", () => {
      if (!settled) attempt(compute).then(resolve, reject);
      settled = true;
    });
  });
  outputs.catch(() => {}); // awaited by verifyGraph; a failure surfaces there
  child.send({ dir: encoder.dir, batches, task } satisfies ReferenceRequest);
  return {
    batches,
    outputs: () => outputs,
    cancel: () => {
      settled = true;
      if (child.exitCode === null && child.signalCode === null) child.kill();
    },
  };
}

function attempt<T>(run: () => T): Promise<T> {
  try {
    return Promise.resolve(run());
  } catch (error) {
    return Promise.reject(error);
  }
}

function parameterCount(encoder: LoadedEncoder): number {
  const store = encoder.weights.store;
  return store.names().reduce((sum, name) => sum + store.info(name).shape.reduce((a, b) => a * b, 1), 0);
}

/** Whether loadEncoder(encoder.dir) gives this encoder's template and config. */
export function reloadsAsIs(encoder: LoadedEncoder): boolean {
  try {
    const config = ConfigReader.fromFile(folderFiles(encoder.dir), "config.json"); // what the worker reads
    const architecture = architectureFor(config);
    return architecture === encoder.architecture && JSON.stringify(architecture.parseConfig(config)) === JSON.stringify(encoder.config);
  } catch {
    return false;
  }
}
