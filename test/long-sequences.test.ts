// Attention for long inputs (src/arch/bounded-attention.ts): hand-computed cases of the two
// forms, which kernels and inputs the primary graph uses (MultiHeadAttention without mask
// inputs takes onnxruntime's flash path), the attention_memory metadata, and the graphs against
// the reference forward at 1×4096 and 2×8192 with padding.
import { describe, expect, it } from "vitest";
import type { TokenBatch } from "../src/arch/architecture.js";
import { BoundedAttention } from "../src/arch/bounded-attention.js";
import { MASK_VALUE } from "../src/arch/blocks.js";
import type { LoadedEncoder } from "../src/arch/encoder.js";
import { buildEncoderGraph } from "../src/heads/graph.js";
import { METADATA } from "../src/artifact/names.js";
import { randomBatch, syntheticBert, syntheticModernBert, syntheticNomicBert } from "../src/fixtures/index.js";
import { Contrib } from "../src/graph/contrib.js";
import { DataType, type Model } from "../src/graph/ir.js";
import { runBlock } from "./helpers/architectures.js";
import { expectGraphMatchesReference, syntheticEncoder } from "./helpers/index.js";

/** One head of size 1 with q = k = 0 (uniform weights over the keys a query sees) and values 1..S. */
async function uniformAttention(form: "global" | "local", attentionMask: number[], batch = 1): Promise<number[]> {
  const { data } = await runBlock(
    (nn, { ids, mask }) => {
      const { ops } = nn;
      const values = ops.add(ops.cast(nn.positions(ids), DataType.FLOAT), ops.scalar(1));
      const v = ops.expand(ops.unsqueeze(values, [0, 2]), ops.concat([ops.shape(ids), ops.g.constInt64([1], [1])], 0));
      const zeros = ops.mul(v, ops.scalar(0));
      const attention = new BoundedAttention(ops, new Contrib(ops.g), MASK_VALUE);
      const heads = { q: zeros, k: zeros, v, heads: 1, size: 1 };
      return form === "global" ? attention.global(heads, mask) : attention.local(heads, mask, 1);
    },
    { batch, sequence: attentionMask.length / batch, attentionMask },
  );
  return Array.from(data);
}

describe("bounded attention, computed by hand", () => {
  it("global: padded keys get no weight through the extra head feature; a row of padding attends uniformly", async () => {
    expect(await uniformAttention("global", [1, 1, 1, 0, 0, 0, 0, 0, 0, 0], 2)).toEqual([2, 2, 2, 2, 2, 3, 3, 3, 3, 3]);
  });

  it("local (half window 1): each query averages the real keys within one position, or all keys when it sees none", async () => {
    expect(await uniformAttention("local", [1, 1, 1, 1, 1])).toEqual([1.5, 2, 3, 4, 4.5]);
    // Query 4 sees only padded keys (3 and 4): uniform over all five keys, as the reference does.
    expect(await uniformAttention("local", [1, 1, 1, 0, 0])).toEqual([1.5, 2, 2.5, 3, 3]);
  });
});

const LONG = 8192;
const TINY = { hidden: 8, heads: 2, intermediate: 16, maxPositions: LONG };
// NomicBERT rounds its gated width up to a multiple of 256.
const rotary = syntheticEncoder(syntheticNomicBert({ ...TINY, intermediate: 256, layers: 1, seed: 301 }));
// Layer 0 global, layer 1 a sliding window of 128 (half window 64: 128 blocks at 8192).
const modernBert = syntheticEncoder(syntheticModernBert({ ...TINY, layers: 2, globalEvery: 2, localAttention: 128, seed: 302 }));
// No rotary positions but a position limit above ATTENTION_NODE_MAX_SEQUENCE (bge-m3's case).
const longBert = syntheticEncoder(syntheticBert({ ...TINY, layers: 1, seed: 303 }));
const shortBert = syntheticEncoder(syntheticBert({ ...TINY, layers: 1, maxPositions: 512, seed: 304 }));

const primary = (encoder: LoadedEncoder): Model => buildEncoderGraph(encoder, { opset: 17, variant: "primary" });
const attentions = (model: Model) => model.graph.nodes.filter((n) => n.opType === "MultiHeadAttention" || n.opType === "Attention");

/** A random batch whose rows are real for the given lengths, padded after. */
function padded(encoder: LoadedEncoder, lengths: number[], sequence: number): TokenBatch {
  const batch = randomBatch(encoder.config, { batch: lengths.length, sequence, padded: false, seed: 5 });
  lengths.forEach((length, row) => {
    batch.attentionMask.fill(0, row * sequence + length, (row + 1) * sequence);
    batch.inputIds.fill(encoder.config.padTokenId, row * sequence + length, (row + 1) * sequence);
  });
  return batch;
}

describe("the primary graph's attention for long inputs", () => {
  it("global attention is MultiHeadAttention with query, key and value only (its flash path); windows read a block-sized bias", () => {
    for (const encoder of [rotary, longBert, modernBert]) {
      const nodes = attentions(primary(encoder));
      expect(nodes.every((n) => n.opType === "MultiHeadAttention")).toBe(true);
      expect(nodes.every((n) => (n.inputs[4] ?? "") === "")).toBe(true); // never a key_padding_mask
      const windowed = nodes.filter((n) => n.inputs.length > 3);
      expect(windowed.length).toBe(encoder === modernBert ? 1 : 0);
      for (const n of windowed) expect(n.inputs[5]).toMatch(/window_blocks/);
      expect(primary(encoder).metadata[METADATA.attentionMemory]).toBe("linear");
    }
  });

  it("models limited to 1024 positions keep the one-node Attention; the portable graph and the flash-free primary say their memory is quadratic", () => {
    const model = primary(shortBert);
    expect(attentions(model).map((n) => n.opType)).toEqual(["Attention"]);
    expect(model.metadata[METADATA.attentionMemory]).toBe("quadratic");
    for (const encoder of [rotary, modernBert]) {
      expect(buildEncoderGraph(encoder, { opset: 17, variant: "portable" }).metadata[METADATA.attentionMemory]).toBe("quadratic");
      expect(
        buildEncoderGraph(encoder, { opset: 17, variant: "primary", fused: { flash: false } }).metadata[METADATA.attentionMemory],
      ).toBe("quadratic");
    }
  });

  // The reference's global attention is S² work in plain loops: 2×8192 once, on the model that
  // has both forms (a global and a local layer); 1×4096 on each.
  it("matches the reference at 1×4096 and 2×8192 with padding (ModernBERT: rotary global layer, sliding-window layer)", async () => {
    await expectGraphMatchesReference(modernBert, [padded(modernBert, [4000], 4096), padded(modernBert, [LONG, 3000], LONG)], {
      variant: "primary",
    });
  });

  it("matches the reference at 1×4096 with padding (rotary NomicBERT; BERT with a long position limit)", async () => {
    for (const encoder of [rotary, longBert])
      await expectGraphMatchesReference(encoder, [padded(encoder, [3000], 4096)], { variant: "primary" });
  });
});
