// Calibration texts: the built-in corpora, user files (and every way they can be unusable),
// tokenization with truncation and padding, and option validation.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BUNDLED_TOKENIZER } from "../src/fixtures/model-folder.js";
import { loadTokenizer } from "../src/artifact/tokenizer-folder.js";
import { QuantizationInputError, builtinCalibrationTexts, heldOutTexts, readTextFile } from "../src/quant/corpus.js";
import { calibrationTextsFor, resolveQuantizationOptions } from "../src/quant/options.js";
import { UsageError } from "../src/common/usage.js";
import { batchByLength, padBatch, tokenizeTexts } from "../src/quant/tokenize.js";
import { tempDir } from "./helpers/index.js";

const tokenizer = loadTokenizer(join(BUNDLED_TOKENIZER, "..")).tokenizer;
const CLS = 101;
const SEP = 102;

describe("built-in corpora", () => {
  const calibration = builtinCalibrationTexts().texts;
  const heldOut = heldOutTexts(calibration).texts;

  it("a few hundred varied calibration texts and a disjoint held-out set", () => {
    expect(calibration.length).toBeGreaterThanOrEqual(250);
    expect(new Set(calibration).size).toBe(calibration.length);
    expect(heldOut.length).toBeGreaterThanOrEqual(60);
    expect(heldOut.filter((t) => calibration.includes(t))).toEqual([]);
    for (const texts of [calibration, heldOut]) {
      const lengths = tokenizeTexts(tokenizer, texts, 100_000).sequences.map((s) => s.length);
      expect(lengths.filter((n) => n <= 8).length).toBeGreaterThan(5); // short
      expect(lengths.filter((n) => n > 128).length).toBeGreaterThan(0); // longer than the default max length
      expect(texts.filter((t) => t.includes("?")).length).toBeGreaterThan(10); // questions
      expect(texts.filter((t) => /[\u0400-\u04ff\u3040-\u30ff\u4e00-\u9fff]/.test(t)).length).toBeGreaterThan(2); // non-Latin scripts
      expect(texts.filter((t) => t.includes("\n")).length).toBeGreaterThan(0); // code
      expect(texts.filter((t) => /\d/.test(t)).length).toBeGreaterThan(20); // numbers
    }
  });

  it("held-out texts that a user's calibration set also holds are dropped from the held-out set", () => {
    const some = builtinCalibrationTexts().texts.slice(0, 3);
    const all = heldOutTexts([]).texts;
    expect(heldOutTexts([...some, all[0]!, all[1]!]).texts).toEqual(all.slice(2));
  });
});

describe("calibration files", () => {
  const dir = tempDir("jazzmine-texts-");
  const file = (name: string, content: string | Uint8Array) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };
  const failure = (run: () => unknown): QuantizationInputError => {
    try {
      run();
    } catch (error) {
      expect(error).toBeInstanceOf(QuantizationInputError);
      return error as QuantizationInputError;
    }
    throw new Error("expected a QuantizationInputError");
  };

  it("reads .txt (one text per line, CRLF too, blank lines skipped) and .jsonl (strings or {text})", () => {
    expect(readTextFile(file("a.txt", "\uFEFFfirst line\r\n\r\n  second line \nthird"))).toEqual(["first line", "  second line ", "third"]);
    expect(readTextFile(file("b.jsonl", '"one"\n\n{"text": "two\\nlines", "id": 3}\n'))).toEqual(["one", "two\nlines"]);
  });

  it("one clear error naming the file for each unusable input", () => {
    const cases: Array<[string, () => unknown, RegExp]> = [
      ["empty file", () => readTextFile(file("empty.txt", "")), /empty\.txt holds no texts/],
      ["only blank lines", () => readTextFile(file("blank.txt", "\n  \n\t\n")), /blank\.txt holds no texts/],
      ["binary", () => readTextFile(file("binary.txt", Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 1]))), /binary\.txt is binary/],
      [
        "not UTF-8",
        () => readTextFile(file("latin1.txt", Uint8Array.from([0x63, 0x61, 0x66, 0xe9, 0x0a]))),
        /latin1\.txt is not UTF-8 text/,
      ],
      ["bad JSON line", () => readTextFile(file("bad.jsonl", '"ok"\n{oops\n')), /bad\.jsonl line 2 is not valid JSON/],
      [
        "JSON of the wrong shape",
        () => readTextFile(file("shape.jsonl", '{"body": "x"}\n')),
        /shape\.jsonl line 1: expected a JSON string or an object with a "text" string/,
      ],
      ["unknown extension", () => readTextFile(file("texts.csv", "a,b\n")), /texts\.csv: use \.txt/],
      ["missing", () => readTextFile(join(dir, "nope.txt")), /nope\.txt does not exist/],
      [
        "a folder",
        () => (mkdirSync(join(dir, "folder.txt"), { recursive: true }), readTextFile(join(dir, "folder.txt"))),
        /folder\.txt is not a file/,
      ],
      ["file and list", () => calibrationTextsFor({ calibrationFile: "x.txt", calibrationTexts: ["a"] }), /not both/],
      ["empty list", () => calibrationTextsFor({ calibrationTexts: ["", "  "] }), /holds no texts/],
      [
        "non-string in list",
        () => calibrationTextsFor({ calibrationTexts: ["a", 3 as unknown as string] }),
        /calibration text 2 is a number/,
      ],
    ];
    for (const [what, run, message] of cases) expect(failure(run).message, what).toMatch(message);
  });

  it("options are validated with the allowed values in the message", () => {
    const cases: Array<[Parameters<typeof resolveQuantizationOptions>[0], RegExp]> = [
      [{ mode: "fast" as "static" }, /mode must be one of static, dynamic/],
      [{ calibrationMethod: "kl" as "entropy" }, /calibrationMethod must be one of minmax, percentile, entropy, mse/],
      [{ fidelityThreshold: 0 }, /fidelityThreshold must be a cosine in \(0, 1\]/],
      [{ fidelityThreshold: 1.5 }, /fidelityThreshold/],
      [{ maxLength: 1 }, /maxLength must be an integer from 2/],
      [{ percentile: 20 }, /percentile must be in \(50, 100\]/],
      [{ smoothing: { alpha: 2 } }, /smoothing\.alpha/],
    ];
    for (const [options, message] of cases) {
      // A usage error (the CLI's exit 2), naming the option as the library spells it.
      expect(() => resolveQuantizationOptions(options)).toThrow(UsageError);
      expect(() => resolveQuantizationOptions(options)).toThrow(message);
    }
    expect(resolveQuantizationOptions({})).toMatchObject({
      mode: "static",
      maxLength: 128,
      fidelityThreshold: 0.98,
      activationType: "int8",
    });
  });
});

describe("tokenization", () => {
  it("truncates to the maximum length keeping the closing special token, pads batches with the pad id", () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 400 }), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 2, max: 64 }),
        fc.integer({ min: 1, max: 6 }),
        (texts, maxLength, batchSize) => {
          const full = tokenizeTexts(tokenizer, texts, 100_000).sequences;
          const { sequences, truncated } = tokenizeTexts(tokenizer, texts, maxLength);
          expect(truncated).toBe(full.filter((s) => s.length > maxLength).length);
          sequences.forEach((s, i) => {
            const original = full[i]!;
            expect(s.length).toBe(Math.min(original.length, maxLength));
            expect(s[0]).toBe(CLS);
            expect(s[s.length - 1]).toBe(SEP);
            expect([...s.subarray(0, s.length - 1)]).toEqual([...original.subarray(0, s.length - 1)]);
          });
          const batches = batchByLength(sequences, batchSize, 0);
          expect(batches.flatMap((b) => b.rows).sort((a, b) => a - b)).toEqual(sequences.map((_, i) => i));
          let previous = 0;
          for (const { batch, rows } of batches) {
            expect(batch.batch).toBe(rows.length);
            expect(batch.sequence).toBe(Math.max(...rows.map((r) => sequences[r]!.length)));
            expect(batch.sequence).toBeGreaterThanOrEqual(previous); // sorted by length: little padding
            previous = batch.sequence;
            rows.forEach((r, b) => {
              const row = batch.inputIds.subarray(b * batch.sequence, (b + 1) * batch.sequence);
              const mask = batch.attentionMask.subarray(b * batch.sequence, (b + 1) * batch.sequence);
              const length = sequences[r]!.length;
              expect([...row.subarray(0, length)]).toEqual([...sequences[r]!]);
              expect([...row.subarray(length)].every((id) => id === 0)).toBe(true);
              expect([...mask].map((m, t) => m === (t < length ? 1 : 0)).every(Boolean)).toBe(true);
            });
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it("pads plain id arrays as well; no rows still make a batch of one position", () => {
    const batch = padBatch(
      [
        [CLS, 7, SEP],
        [CLS, SEP],
      ],
      0,
    );
    expect(batch).toMatchObject({ batch: 2, sequence: 3 });
    expect([...batch.inputIds]).toEqual([CLS, 7, SEP, CLS, SEP, 0]);
    expect([...batch.attentionMask]).toEqual([1, 1, 1, 1, 1, 0]);
    expect(padBatch([], 0)).toMatchObject({ batch: 0, sequence: 1 });
  });
});
