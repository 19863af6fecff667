// The last word before an export publishes: the staged folder opened by the runtime that serves
// its task (Embedder, Reranker, SparseEmbedder, MultiVectorEmbedder — each with its own loading
// code, onnxruntime in a child process as the CLI runs it) and a few short texts run through it.
// A folder the runtime would refuse (a tokenizer.json it cannot load, a ColBERT marker missing
// from the vocabulary, a modules.json it cannot read) stops the export, so that "done" is never
// printed for a folder that `embed` then refuses.
import { relative, sep } from "node:path";
import { readSentencePipeline } from "../arch/sentence-transformers.js";
import type { BgeM3Output } from "../heads/bge-m3.js";
import type { Task } from "../heads/tasks.js";
import { ExportError } from "../common/errors.js";
import { errorMessage } from "../common/messages.js";
import { Embedder } from "../runtime/embedder.js";
import { MultiVectorEmbedder } from "../runtime/multi-vector-embedder.js";
import { Reranker } from "../runtime/reranker.js";
import { SparseEmbedder } from "../runtime/sparse-embedder.js";
import { folderFiles } from "../common/node-files.js";

/** Short texts, one batch: enough to run the tokenizer, the markers and the graph once. */
const LOAD_CHECK_TEXTS = ["hello world", "What does the runtime make of this sentence?"];

export interface LoadCheckRequest {
  /** The staged export folder (its manifest written). */
  dir: string;
  /** The model file the export publishes (a staged path). */
  model: string;
  task: Task;
  /** bge-m3: the outputs the graph has (default all three). */
  outputs?: readonly BgeM3Output[];
  /** The folder the export publishes into, for the message. */
  outputDir: string;
}

/** One runtime's check: opens the folder, runs the texts, closes it; its errors are the runtime's. */
type RuntimeCheck = { runtime: string; run: (dir: string, file: string) => Promise<void> };

const isolated = { isolated: true } as const;

const EMBEDDER: RuntimeCheck = {
  runtime: "Embedder (jazzmine-embed embed)",
  run: async (dir, file) => {
    // A pipeline with modules after pooling (Dense) makes the Embedder ask its user for a pooling on
    // purpose: that is a choice to make, not a broken folder, so the check makes it as modules.json says.
    const pipeline = readSentencePipeline(folderFiles(dir));
    const pooling = pipeline && pipeline.unsupportedModules.length > 0 ? { pooling: pipeline.pooling } : {};
    return using(Embedder.load(dir, { ...isolated, file, ...pooling }), (e) => e.embed(LOAD_CHECK_TEXTS));
  },
};
const RERANKER: RuntimeCheck = {
  runtime: "Reranker (jazzmine-embed rerank)",
  run: (dir, file) => using(Reranker.load(dir, { ...isolated, file }), (r) => r.score(LOAD_CHECK_TEXTS[0]!, LOAD_CHECK_TEXTS)),
};
const SPARSE: RuntimeCheck = {
  runtime: "SparseEmbedder (jazzmine-embed embed --sparse)",
  run: (dir, file) => using(SparseEmbedder.load(dir, { ...isolated, file }), (s) => s.embed(LOAD_CHECK_TEXTS)),
};
const MULTI_VECTOR: RuntimeCheck = {
  runtime: "MultiVectorEmbedder (jazzmine-embed embed --colbert)",
  run: (dir, file) =>
    using(MultiVectorEmbedder.load(dir, { ...isolated, file }), async (m) => {
      await m.embedQueries(LOAD_CHECK_TEXTS);
      await m.embedDocuments(LOAD_CHECK_TEXTS);
    }),
};

/** The runtimes that serve each task's outputs. */
function runtimesFor(task: Task, outputs: readonly BgeM3Output[] = ["dense", "sparse", "colbert"]): RuntimeCheck[] {
  switch (task) {
    case "feature-extraction":
      return [EMBEDDER];
    case "rerank":
      return [RERANKER];
    case "sparse":
      return [SPARSE];
    case "colbert":
      return [MULTI_VECTOR];
    case "bge-m3":
      return [
        ...(outputs.includes("dense") ? [EMBEDDER] : []),
        ...(outputs.includes("sparse") ? [SPARSE] : []),
        ...(outputs.includes("colbert") ? [MULTI_VECTOR] : []),
      ];
  }
}

/** How many runtimes the load check opens the export with (bge-m3: one per output). */
export function runtimeCount(request: Pick<LoadCheckRequest, "task" | "outputs">): number {
  return runtimesFor(request.task, request.outputs).length;
}

/**
 * Opens the staged export with every runtime that serves its task and runs a few texts through
 * each (concurrently: each runtime's onnxruntime is its own child process). The first refusal is
 * an ExportError naming the runtime and the export's file at fault; the caller then publishes
 * nothing.
 */
export async function checkExportLoads(request: LoadCheckRequest): Promise<void> {
  const file = relative(request.dir, request.model);
  const checks = runtimesFor(request.task, request.outputs);
  const results = await Promise.allSettled(checks.map((check) => check.run(request.dir, file)));
  const failed = results.findIndex((result) => result.status === "rejected");
  if (failed < 0) return;
  const { runtime } = checks[failed]!;
  const reason = (results[failed] as PromiseRejectedResult).reason;
  throw new ExportError(
    `the exported folder does not load in ${runtime}: ${inExport(errorMessage(reason).split("\n")[0]!, request.dir)}; ` +
      `nothing was published into ${request.outputDir}`,
    { cause: reason },
  );
}

/** A runtime's message about the staged folder, its files named relative to the export. */
function inExport(message: string, stagingDir: string): string {
  return message.replaceAll(`${stagingDir}${sep}`, "").replaceAll(stagingDir, "the export");
}

/** Runs `body` on an opened runtime and closes it, whatever happens. */
async function using<T extends { close(): Promise<void> }>(opened: Promise<T>, body: (runtime: T) => Promise<unknown>): Promise<void> {
  const runtime = await opened;
  try {
    await body(runtime);
  } finally {
    await runtime.close();
  }
}
