// Child process computing the reference forward of a model folder, so that it runs while the
// exporting process builds and writes the graph (see startReference in background-reference.ts).
import type { EncoderOutputs, TokenBatch } from "../arch/architecture.js";
import { loadEncoder, referenceForward } from "../arch/encoder.js";
import type { SentencePooling } from "../arch/pooling.js";

export interface ReferenceRequest {
  dir: string;
  batches: TokenBatch[];
  sentence?: SentencePooling;
}

export type ReferenceReply = { ok: true; outputs: EncoderOutputs[] } | { ok: false; name: string; message: string };

process.once("message", (request: ReferenceRequest) => process.send!(compute(request)));
// The parent disconnects once it has the reply (an exit before that means the worker died).
process.on("disconnect", () => process.exit(0));

function compute(request: ReferenceRequest): ReferenceReply {
  try {
    const encoder = loadEncoder(request.dir);
    try {
      return { ok: true, outputs: request.batches.map((batch) => referenceForward(encoder, batch, request.sentence)) };
    } finally {
      encoder.close();
    }
  } catch (error) {
    const e = error as Error;
    return { ok: false, name: e?.name ?? "Error", message: e?.message ?? String(error) };
  }
}
