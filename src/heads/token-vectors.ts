// Late interaction (ColBERT): every token's vector projected to the model's dimension and
// L2-normalized → token_vectors [batch, sequence, dim], 0 where a token yields no vector.
//   colbert-ai HF_ColBERT (colbertv2.0, answerai-colbert-small-v1): `linear.weight` [dim, hidden]
//     beside the encoder; a token yields a vector unless it is padding (input_ids == pad_token_id:
//     the [MASK] tokens of query augmentation do, attended to or not).
//   PyLate: a Dense module folder (config.json + its own weights) after the transformer.
//   bge-m3: `colbert_linear.pt` on tokens 1… (not [CLS]), real tokens only.
// Which tokens of a document are dropped (punctuation) is the runtime's business: the graph cannot
// tell a query from a document; ColbertSettings in the metadata say.
import { type ModelFiles, subfolder } from "../common/files.js";
import { ConfigError, ConfigReader } from "../arch/config.js";
import * as ref from "../arch/reference/math.js";
import { moduleClass, readModules } from "../arch/sentence-transformers.js";
import type { LinearArrays } from "../arch/weight-refs.js";
import { METADATA, OUTPUT } from "../artifact/names.js";
import type { GraphBuilder, Value } from "../graph/builder.js";
import { DataType } from "../graph/ir.js";
import type { Ops } from "../graph/ops.js";
import { type ColbertSettings, colbertMetadata } from "./colbert-settings.js";
import type { Head } from "./head.js";
import { l2Normalize, normalizeGraph } from "./pooling.js";
import { type Projection, projectGraph, readProjection } from "./projection.js";

/** Which tokens yield a vector. */
export type VectorTokens =
  /** colbert-ai / PyLate: every token whose id is not the pad id. */
  | { kind: "notPad"; padTokenId: number }
  /** bge-m3: real tokens (attention_mask 1) after the first. */
  | { kind: "afterFirst" };

/** PyLate's projection: the Dense module right after the transformer in modules.json, or undefined. */
export function readPylateDense(files: ModelFiles, hidden: number): Projection | undefined {
  const modules = readModules(files);
  const dense = modules?.[1];
  if (!modules || !dense || moduleClass(dense) !== "Dense" || !dense.type.startsWith("pylate.")) return undefined;
  const extra = modules.slice(2).map((m) => m.type);
  if (extra.length > 0)
    throw new ConfigError(`${files.path("modules.json")}: modules after PyLate's Dense (${extra.join(", ")}) are not exported`);
  const folder = subfolder(files, dense.path);
  const config = ConfigReader.fromFile(folder, "config.json");
  const activation = config.string("activation_function", IDENTITY);
  if (activation !== IDENTITY) throw config.fail(`activation_function ${activation} is not supported (only ${IDENTITY})`);
  const projection = readProjection(folder, "", "linear", config.int("in_features", { min: 1 }));
  if (projection.inFeatures !== hidden)
    throw config.fail(`in_features ${projection.inFeatures} differs from the encoder's hidden size ${hidden}`);
  return projection;
}

const IDENTITY = "torch.nn.modules.linear.Identity";

/** [B, S, 1] float: 1 where a token yields a vector. */
function vectorMask(ops: Ops, g: GraphBuilder, inputs: { inputIds: Value; attentionMask: Value }, which: VectorTokens): Value {
  if (which.kind === "notPad") {
    const real = ops.not(ops.equal(inputs.inputIds, g.constInt64([which.padTokenId], [], "pad_token_id")));
    return ops.unsqueeze(ops.cast(real, DataType.FLOAT), [2]);
  }
  // Positions 1, 2, … counted along the sequence: the first token has position 1.
  const positions = ops.cumSum(
    ops.cast(ops.equal(inputs.inputIds, inputs.inputIds), DataType.INT64),
    g.constInt64([1], [], "sequence_axis"),
  );
  const afterFirst = ops.cast(ops.greater(positions, g.constInt64([1], [], "one")), DataType.FLOAT);
  return ops.unsqueeze(ops.mul(afterFirst, ops.cast(inputs.attentionMask, DataType.FLOAT)), [2]);
}

/** Reference: [B, S] 1 where a token yields a vector. */
export function vectorMaskReference(
  batch: { batch: number; sequence: number; inputIds: ArrayLike<number>; attentionMask: ArrayLike<number> },
  which: VectorTokens,
): Uint8Array {
  const keep = new Uint8Array(batch.batch * batch.sequence);
  for (let p = 0; p < keep.length; p++) {
    keep[p] =
      which.kind === "notPad"
        ? Number(batch.inputIds[p] !== which.padTokenId)
        : Number(p % batch.sequence >= 1 && Number(batch.attentionMask[p]) !== 0);
  }
  return keep;
}

/** token_vectors of hidden [B, S, H] in TypeScript: project, zero the tokens without a vector, normalize. */
export function tokenVectorsReference(
  hidden: Float32Array,
  batch: { batch: number; sequence: number; inputIds: ArrayLike<number>; attentionMask: ArrayLike<number> },
  projection: LinearArrays,
  which: VectorTokens,
): Float32Array {
  const rows = batch.batch * batch.sequence;
  const projected = ref.linear(hidden, rows, projection);
  const keep = vectorMaskReference(batch, which);
  const dim = projection.outFeatures;
  for (let r = 0; r < rows; r++) if (!keep[r]) projected.fill(0, r * dim, (r + 1) * dim);
  return l2Normalize(projected, dim);
}

/** The `token_vectors` head. */
export function tokenVectorsHead(projection: Projection, which: VectorTokens, settings: ColbertSettings, name: string): Head {
  const dim = projection.outFeatures;
  return {
    name,
    outputs: [{ name: OUTPUT.tokenVectors, dims: ["batch", "sequence", dim], perToken: true }],
    judge: { kind: "maxsim", output: OUTPUT.tokenVectors },
    emit({ g, ops, inputs }, encoder) {
      const projected = projectGraph(g, ops, encoder.hidden, projection, "colbert_projection");
      const vectors = normalizeGraph(ops, ops.mul(projected, vectorMask(ops, g, inputs, which)));
      return { values: { [OUTPUT.tokenVectors]: vectors }, metadata: { ...colbertMetadata(settings), [`${METADATA.head}_colbert`]: name } };
    },
    reference({ batch }, encoder) {
      return { [OUTPUT.tokenVectors]: tokenVectorsReference(encoder.hidden, batch, projection, which) };
    },
  };
}
