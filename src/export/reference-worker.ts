// Child process computing the reference forward of a model folder, so that it runs while the
// exporting process builds and writes the graph (see startReference in background-reference.ts).
import type { TokenBatch } from "../arch/architecture.js";
import { loadEncoder } from "../arch/encoder-folder.js";
import { referenceOutputsOf } from "../heads/graph.js";
import type { HeadArrays } from "../heads/head.js";
import { type TaskSpec, headsFor } from "../heads/tasks.js";

export interface ReferenceRequest {
  dir: string;
  batches: TokenBatch[];
  /** The heads to compute (rebuilt here from the folder). */
  task: TaskSpec;
}

export type ReferenceReply = { ok: true; outputs: HeadArrays[] } | { ok: false; name: string; message: string };

process.once("message", (request: ReferenceRequest) => process.send!(compute(request)));
// The parent disconnects once it has the reply (an exit before that means the worker died).
process.on("disconnect", () => process.exit(0));

function compute(request: ReferenceRequest): ReferenceReply {
  try {
    const encoder = loadEncoder(request.dir);
    try {
      const heads = headsFor(encoder, request.task);
      return { ok: true, outputs: referenceOutputsOf(encoder, heads, request.batches) };
    } finally {
      encoder.close();
    }
  } catch (error) {
    const e = error as Error;
    return { ok: false, name: e?.name ?? "Error", message: e?.message ?? String(error) };
  }
}
