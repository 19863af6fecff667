// One onnxruntime session behind one interface, in this process or in a child process, so that a
// runtime (the Embedder…) runs the same code either way. In a child, a native crash of
// onnxruntime is an ordinary error and the caller lives on: onnxruntime-node 1.30 crashes
// (SIGSEGV) at session creation in any process whose command line exceeds about 29 KB, which
// `jazzmine-embed embed <dir> <many texts>` reaches; the worker's own command line is short.
import * as ort from "onnxruntime-node";
import { type FileIdentity, fileIdentity, sameIdentity } from "../artifact/verified-files.js";
import { IsolatedSession, loadedSession } from "./isolated-session.js";
import { InProcessSession } from "./portable-session.js";
import type { FeedTensor, TokenPooling } from "./protocol.js";

/** An output tensor as the runtimes read it: float32, or int8/uint8 (quantized embeddings). */
export interface SessionOutput {
  type: string;
  data: Float32Array | Int8Array | Uint8Array;
  dims: number[];
}

export interface ModelSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /**
   * The named outputs for one set of feeds; with `pool`, each (token vectors [B, S, H]) pooled
   * per row → [B, H] where onnxruntime runs, so that a child sends back only the vectors.
   */
  run(feeds: Record<string, FeedTensor>, outputs: readonly string[], pool?: TokenPooling): Promise<Record<string, SessionOutput>>;
  release(): Promise<void>;
}

export interface ModelSessionOptions {
  /** Run onnxruntime in a child process (default: in this one). */
  isolated?: boolean;
  /** Threads onnxruntime may use within one operator (default: its own choice). */
  threads?: number;
}

/**
 * A worker loading a model file as a runtime does (level all, prepacked, onnxruntime's default
 * threads), and that file's identity when it did. `worker` resolves once the caller is done with
 * it (the export: once the graph verified) and rejects when it will not hand it over.
 */
export interface LoadedWorker {
  worker: Promise<IsolatedSession>;
  loadedFrom: FileIdentity;
}

/** Workers offered to the next isolated open of their file (withLoadedWorker), by real path. */
const offered = new Map<string, LoadedWorker>();

/**
 * Runs `body` with `loaded` offered to the first isolated openModelSession of the same file
 * (unchanged since the worker loaded it, and asked for no thread count): the export's load
 * check then runs in the worker that verified the graph instead of loading the model again, and
 * opens the rest of the folder while that worker still verifies. A worker nobody took is closed
 * when `body` ends.
 */
export async function withLoadedWorker<T>(loaded: LoadedWorker, body: () => Promise<T>): Promise<T> {
  const key = loaded.loadedFrom.path;
  offered.set(key, loaded);
  try {
    return await body();
  } finally {
    if (offered.get(key) === loaded) {
      offered.delete(key);
      loaded.worker.then(
        (worker) => worker.close(),
        () => {},
      );
    }
  }
}

/** The offered worker for `modelPath`, taken (once), when the file is still the one it loaded. */
function takeOffered(modelPath: string): Promise<IsolatedSession> | undefined {
  let identity: FileIdentity;
  try {
    identity = fileIdentity(modelPath);
  } catch {
    return undefined; // missing: onnxruntime says so
  }
  const loaded = offered.get(identity.path);
  if (!loaded || !sameIdentity(loaded.loadedFrom, identity)) return undefined;
  offered.delete(identity.path);
  return loaded.worker;
}

/**
 * Loads `modelPath` at optimization level all (what users get): in a child process (isolated),
 * or in this thread through the same session core and protocol.
 */
export async function openModelSession(modelPath: string, options: ModelSessionOptions = {}): Promise<ModelSession> {
  const settings = { graphOptimizationLevel: "all" as const, ...(options.threads ? { intraOpNumThreads: options.threads } : {}) };
  const taken = options.isolated && !options.threads ? takeOffered(modelPath) : undefined;
  const worker = options.isolated
    ? ((await taken) ?? (await IsolatedSession.open(modelPath, settings)))
    : await loadedSession(new InProcessSession(ort, undefined), modelPath, settings);
  return {
    inputNames: worker.inputNames,
    outputNames: worker.outputNames,
    async run(feeds, outputs, pool) {
      const results = await worker.run(feeds, [...outputs], pool);
      // Typed arrays keep their kind through the worker's structured-clone channel.
      return Object.fromEntries(Object.entries(results).map(([name, { data, dims }]) => [name, { type: typeOf(data), data, dims }]));
    },
    release: async () => {
      await worker.close();
    },
  };
}

function typeOf(data: unknown): string {
  if (data instanceof Float32Array) return "float32";
  if (data instanceof Int8Array) return "int8";
  if (data instanceof Uint8Array) return "uint8";
  return Object.prototype.toString.call(data).slice(8, -1);
}
