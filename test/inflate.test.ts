// The pure-TypeScript DEFLATE decoder and CRC-32 of the zip reader agree with zlib's, and damaged
// streams fail with an Error (never a hang, never more bytes than announced).
import { crc32 as zlibCrc32, deflateRawSync, inflateRawSync } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { crc32, inflateRaw } from "../src/checkpoint/inflate.js";

/** Bytes with runs and repeats (what deflate's back-references and dynamic tables are for) or noise. */
const payload = fc.oneof(
  fc.uint8Array({ maxLength: 3000 }),
  fc
    .array(fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 200 })), { maxLength: 30 })
    .map((parts) => new Uint8Array(parts.flatMap(([bytes, times]) => Array.from({ length: times }, () => [...bytes]).flat()))),
);

describe("inflateRaw and crc32", () => {
  it("inflate what zlib deflates, at every level (stored, fixed and dynamic blocks)", () => {
    fc.assert(
      fc.property(payload, fc.integer({ min: 0, max: 9 }), (bytes, level) => {
        const deflated = deflateRawSync(bytes, { level });
        expect(inflateRaw(deflated, bytes.length)).toEqual(bytes);
        expect(crc32(bytes)).toBe(zlibCrc32(bytes));
      }),
      { numRuns: 200 },
    );
  });

  it("refuse a stream holding more or fewer bytes than announced, and damaged streams, with an Error", () => {
    const bytes = new TextEncoder().encode("state dict ".repeat(500));
    const deflated = deflateRawSync(bytes);
    expect(() => inflateRaw(deflated, bytes.length - 1)).toThrow(/more than the/);
    expect(() => inflateRaw(deflated, bytes.length + 1)).toThrow(/not the/);
    fc.assert(
      fc.property(fc.nat(deflated.length - 1), fc.integer({ min: 0, max: 255 }), (at, value) => {
        const damaged = deflated.slice();
        damaged[at] = value;
        // zlib is the judge: where it inflates the damaged stream to the announced size, ours gives
        // the same bytes; where it fails or gives another size, ours throws an Error.
        let expected: Uint8Array | undefined;
        try {
          expected = inflateRawSync(damaged);
        } catch {
          expected = undefined;
        }
        let actual: Uint8Array | Error;
        try {
          actual = inflateRaw(damaged, bytes.length);
        } catch (error) {
          actual = error as Error;
        }
        if (expected && expected.length === bytes.length) expect(actual).toEqual(new Uint8Array(expected));
        else expect(actual).toBeInstanceOf(Error);
      }),
      { numRuns: 1000 },
    );
    for (const cut of [1, 10, deflated.length - 1]) expect(() => inflateRaw(deflated.subarray(0, cut), bytes.length)).toThrow(Error);
  });
});
