// Padding side: one batch builder pads before or after the tokens (tokenizer_config.json's
// padding_side; Qwen3-Embedding pads left, so the last position holds every row's last token).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { padBatch } from "../src/quant/tokenize.js";
import { paddingSideOf } from "../src/runtime/embedder.js";

describe("padding side", () => {
  it("padding_side is read as transformers reads it; another value is an error naming the field", () => {
    expect(paddingSideOf({})).toBe("right");
    expect(paddingSideOf({ padding_side: "left" })).toBe("left");
    expect(() => paddingSideOf({ padding_side: "middle" })).toThrow(
      /tokenizer_config\.json: padding_side must be "left" or "right", not "middle"/,
    );
  });

  it("left padding holds the same rows as right padding, shifted to the end (token types with them)", () => {
    const rows = fc.array(fc.array(fc.integer({ min: 1, max: 99 }), { maxLength: 9 }), { maxLength: 6 });
    fc.assert(
      fc.property(rows, (sequences) => {
        const types = sequences.map((s) => s.map((_, i) => i % 2));
        const right = padBatch(sequences, 0, types);
        const left = padBatch(sequences, 0, types, "left");
        expect([left.batch, left.sequence]).toEqual([right.batch, right.sequence]);
        sequences.forEach((sequence, b) => {
          const start = b * left.sequence + left.sequence - sequence.length;
          expect([...left.inputIds.subarray(start, start + sequence.length)]).toEqual(sequence);
          expect([...left.tokenTypeIds!.subarray(start, start + sequence.length)]).toEqual(types[b]);
          expect([...left.attentionMask.subarray(b * left.sequence, (b + 1) * left.sequence)]).toEqual(
            [...right.attentionMask.subarray(b * right.sequence, (b + 1) * right.sequence)].reverse(),
          );
          expect([...left.inputIds.subarray(b * left.sequence, start)].every((id) => id === 0)).toBe(true);
        });
      }),
      { numRuns: 100 },
    );
  });
});
