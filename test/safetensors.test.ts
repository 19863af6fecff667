import { execFileSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import fc from "fast-check";
import { firstNonFinite, firstNonFiniteBytes } from "../src/checkpoint/finite.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bfloat16ToFloat32, float16ToFloat32, float32ArrayToFloat16, float32ToBfloat16, float32ToFloat16 } from "../src/common/float16.js";
import {
  encodeSafetensors,
  writeSafetensors,
  writeShardedSafetensors,
  type SafetensorsTensorData,
} from "../src/fixtures/safetensors-writer.js";
import {
  parseSafetensorsHeader,
  SAFETENSORS_DTYPE_BYTES,
  SafetensorsCheckpoint,
  SafetensorsFile,
  type SafetensorsHeader,
} from "../src/checkpoint/safetensors.js";
import { WeightError, type WeightDtype } from "../src/checkpoint/weights.js";
import { checkpointPath } from "../src/checkpoint/checkpoint-path.js";
import { folderFiles } from "../src/common/node-files.js";

// ---------------------------------------------------------------------------------------------
// Helpers

let root: string;
let dirCounter = 0;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "safetensors-test-"));
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/** A fresh empty folder under the test's temporary root. */
function freshDir(): string {
  const dir = join(root, `case-${dirCounter++}`);
  rmSync(dir, { recursive: true, force: true });
  return mkdtempSync(`${dir}-`);
}

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

/** Asserts fn throws a one-line WeightError containing every fragment. */
function expectWeightError(fn: () => unknown, ...fragments: string[]): string {
  const err = thrownBy(fn);
  expect(err).toBeInstanceOf(WeightError);
  const message = (err as WeightError).message;
  for (const fragment of fragments) expect(message).toContain(fragment);
  expect(message).not.toMatch(/[\r\n]/);
  return message;
}

/** Parses, returning undefined on a proper WeightError and failing on any other error. */
function parseOrReject(bytes: Uint8Array, size: number, label: string): SafetensorsHeader | undefined {
  try {
    return parseSafetensorsHeader(bytes, size, label);
  } catch (err) {
    if (!(err instanceof WeightError)) throw new Error(`non-WeightError escaped: ${String(err)}`);
    expect(err.message).toContain(label);
    expect(err.message).not.toMatch(/[\r\n]/);
    return undefined;
  }
}

/** What a successfully parsed header must satisfy, whatever the input was. */
function expectConsistent(header: SafetensorsHeader, fileSize: number): void {
  for (const t of header.tensors.values()) {
    expect(t.offset).toBeGreaterThanOrEqual(header.dataStart);
    expect(t.offset + t.length).toBeLessThanOrEqual(fileSize);
    expect(t.length).toBe(t.shape.reduce((a, b) => a * b, 1) * SAFETENSORS_DTYPE_BYTES[t.dtype]);
  }
  const ranges = [...header.tensors.values()].filter((t) => t.length > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < ranges.length; i++) {
    expect(ranges[i]!.offset).toBeGreaterThanOrEqual(ranges[i - 1]!.offset + ranges[i - 1]!.length);
  }
}

/** A file from a header given as text or a value, with an optional lying length prefix. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), declaredLength?: bigint): Uint8Array {
  const json = typeof header === "string" ? header : JSON.stringify(header);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declaredLength ?? BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  out.set(data, 8 + headerBytes.length);
  return out;
}

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Same float32 values, NaN equal to NaN and -0 distinct from 0. */
function expectSameFloats(actual: Float32Array, expected: ArrayLike<number>): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = Math.fround(expected[i]!);
    if (!(Number.isNaN(a) && Number.isNaN(e)) && !Object.is(a, e)) {
      throw new Error(`element ${i}: got ${a}, expected ${e}`);
    }
  }
}

/** The float32 values a reader must return for a written tensor. */
function expectedFloat32(tensor: SafetensorsTensorData): number[] {
  const { dtype, data } = tensor;
  const values = Array.from(data as ArrayLike<number | bigint>, (v) => Number(v));
  if (dtype === "F16") {
    return data instanceof Uint16Array ? values.map(float16ToFloat32) : values.map((v) => float16ToFloat32(float32ToFloat16(v)));
  }
  if (dtype === "BF16") {
    return data instanceof Uint16Array ? values.map(bfloat16ToFloat32) : values.map((v) => bfloat16ToFloat32(float32ToBfloat16(v)));
  }
  return values;
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

const nameArb = fc
  .oneof(fc.stringMatching(/^[a-z][a-z0-9_.]{0,24}$/), fc.string({ unit: "grapheme", minLength: 1, maxLength: 8 }))
  .filter((name) => name !== "__metadata__");

const shapeArb = fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 3 });

const halfBitsArb = (count: number) =>
  fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: count, maxLength: count }).map((a) => Uint16Array.from(a));

function dataArb(dtype: WeightDtype, count: number): fc.Arbitrary<SafetensorsTensorData["data"]> {
  const sized = { minLength: count, maxLength: count };
  switch (dtype) {
    case "F32":
      return fc.float32Array(sized);
    case "F16":
    case "BF16":
      return fc.oneof(fc.float32Array(sized), halfBitsArb(count));
    case "I64":
      return fc.bigInt64Array(sized);
    case "U8":
      return fc.uint8Array(sized);
    default:
      throw new Error(`no arbitrary for ${dtype}`);
  }
}

const tensorListArb: fc.Arbitrary<SafetensorsTensorData[]> = fc
  .uniqueArray(
    fc.record({
      name: nameArb,
      dtype: fc.constantFrom<WeightDtype>("F32", "F16", "BF16", "I64", "U8"),
      shape: shapeArb,
    }),
    { selector: (t) => t.name, maxLength: 5 },
  )
  .chain((specs) => fc.tuple(...specs.map((spec) => dataArb(spec.dtype, product(spec.shape)).map((data) => ({ ...spec, data })))));

const metadataArb = fc.option(fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }), {
  nil: undefined,
});

function expectCheckpointHolds(checkpoint: SafetensorsCheckpoint, tensors: readonly SafetensorsTensorData[]): void {
  expect(new Set(checkpoint.names())).toEqual(new Set(tensors.map((t) => t.name)));
  for (const tensor of tensors) {
    expect(checkpoint.has(tensor.name)).toBe(true);
    expect(checkpoint.info(tensor.name)).toEqual({ name: tensor.name, dtype: tensor.dtype, shape: tensor.shape });
    expectSameFloats(checkpoint.float32(tensor.name), expectedFloat32(tensor));
  }
}

/** Two F32 tensors, "a" then "b", written to a fresh folder as model.safetensors. */
function writeTwoTensorFile(): { dir: string; file: string; a: Float32Array; b: Float32Array } {
  const dir = freshDir();
  const file = join(dir, "model.safetensors");
  const a = Float32Array.from({ length: 16 }, (_, i) => i + 0.5);
  const b = Float32Array.from({ length: 16 }, (_, i) => -i);
  writeSafetensors(file, [
    { name: "a", dtype: "F32", shape: [4, 4], data: a },
    { name: "b", dtype: "F32", shape: [16], data: b },
  ]);
  return { dir, file, a, b };
}

// ---------------------------------------------------------------------------------------------
// Half-precision conversions

describe("half-precision conversions", () => {
  it("decodes known float16 values", () => {
    expect(float16ToFloat32(0x3c00)).toBe(1);
    expect(float16ToFloat32(0xc000)).toBe(-2);
    expect(float16ToFloat32(0x7bff)).toBe(65504);
    expect(float16ToFloat32(0x0001)).toBe(2 ** -24);
    expect(float16ToFloat32(0x03ff)).toBe(1023 * 2 ** -24);
    expect(float16ToFloat32(0x0400)).toBe(2 ** -14);
    expect(float16ToFloat32(0x7c00)).toBe(Infinity);
    expect(float16ToFloat32(0xfc00)).toBe(-Infinity);
    expect(float16ToFloat32(0x7e00)).toBeNaN();
    expect(float16ToFloat32(0xfc01)).toBeNaN();
    expect(Object.is(float16ToFloat32(0x8000), -0)).toBe(true);
    expect(float16ToFloat32(0x3555)).toBeCloseTo(1 / 3, 3);
  });

  it("encodes known float16 values, rounding to nearest even", () => {
    expect(float32ToFloat16(1)).toBe(0x3c00);
    expect(float32ToFloat16(-2)).toBe(0xc000);
    expect(float32ToFloat16(65504)).toBe(0x7bff);
    expect(float32ToFloat16(65519)).toBe(0x7bff); // just below the halfway point to 65536
    expect(float32ToFloat16(65520)).toBe(0x7c00); // halfway: rounds to even, i.e. Infinity
    expect(float32ToFloat16(1e6)).toBe(0x7c00);
    expect(float32ToFloat16(-Infinity)).toBe(0xfc00);
    expect(float32ToFloat16(2 ** -24)).toBe(0x0001);
    expect(float32ToFloat16(2 ** -25)).toBe(0x0000); // halfway to the smallest subnormal: even is 0
    expect(float32ToFloat16(1.5 * 2 ** -25)).toBe(0x0001);
    expect(float32ToFloat16(3 * 2 ** -25)).toBe(0x0002); // 1.5 ulp: ties to even (2)
    expect(float32ToFloat16(1 + 2 ** -11)).toBe(0x3c00); // tie between 1 and next: even is 1
    expect(float32ToFloat16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(float32ToFloat16(-0)).toBe(0x8000);
    expect(float32ToFloat16(1e-10)).toBe(0x0000);
    const nan = float32ToFloat16(NaN);
    expect(nan & 0x7c00).toBe(0x7c00);
    expect(nan & 0x3ff).not.toBe(0);
  });

  it("round-trips every float16 bit pattern", () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = float16ToFloat32(bits);
      if (Number.isNaN(value)) expect(Number.isNaN(float16ToFloat32(float32ToFloat16(value)))).toBe(true);
      else if (float32ToFloat16(value) !== bits) throw new Error(`0x${bits.toString(16)} came back different`);
    }
  });

  it("encodes any float32 to a nearest float16", () => {
    fc.assert(
      fc.property(fc.float({ min: -65504, max: 65504, noNaN: true }), (x) => {
        const bits = float32ToFloat16(x);
        const error = Math.abs(float16ToFloat32(bits) - x);
        // The neighbours in magnitude are never strictly closer.
        for (const neighbour of [bits - 1, bits + 1]) {
          if ((neighbour & 0x7fff) > 0x7bff || (neighbour & 0x8000) !== (bits & 0x8000)) continue;
          expect(Math.abs(float16ToFloat32(neighbour) - x)).toBeGreaterThanOrEqual(error);
        }
      }),
    );
  });

  it("converts known bfloat16 values", () => {
    expect(bfloat16ToFloat32(0x3f80)).toBe(1);
    expect(bfloat16ToFloat32(0xc000)).toBe(-2);
    expect(bfloat16ToFloat32(0x7f80)).toBe(Infinity);
    expect(bfloat16ToFloat32(0x7fc0)).toBeNaN();
    expect(float32ToBfloat16(1)).toBe(0x3f80);
    expect(float32ToBfloat16(-2)).toBe(0xc000);
    expect(float32ToBfloat16(1 + 2 ** -8)).toBe(0x3f80); // tie: even is 1
    expect(float32ToBfloat16(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(float32ToBfloat16(Infinity)).toBe(0x7f80);
    expect(bfloat16ToFloat32(float32ToBfloat16(NaN))).toBeNaN();
  });

  it("has array versions matching the scalar ones", () => {
    expect(Array.from(float32ArrayToFloat16([1, -2, 65504]))).toEqual([0x3c00, 0xc000, 0x7bff]);
  });
});

// ---------------------------------------------------------------------------------------------
// Round trips

describe("round trip", () => {
  it("reads back what was written: infos, values and metadata", () => {
    fc.assert(
      fc.property(tensorListArb, metadataArb, (tensors, metadata) => {
        const dir = freshDir();
        const file = join(dir, "model.safetensors");
        writeSafetensors(file, tensors, metadata);
        expect(readdirSync(dir)).toEqual(["model.safetensors"]); // no temporary file left behind
        const checkpoint = SafetensorsCheckpoint.open(...checkpointPath(dir));
        try {
          expectCheckpointHolds(checkpoint, tensors);
          expect(checkpoint.metadata).toEqual(metadata ?? {});
          for (const tensor of tensors.filter((t) => t.dtype === "F32")) {
            // F32 data comes back bit for bit, NaN payloads included.
            const bytes = new Uint8Array(checkpoint.float32(tensor.name).buffer);
            expect(bytes).toEqual(new Uint8Array((tensor.data as Float32Array).buffer));
          }
        } finally {
          checkpoint.close();
        }
        rmSync(dir, { recursive: true });
      }),
      { numRuns: 60 },
    );
  });

  it("encodes the same bytes in memory as on disk, header padded to 8 bytes", () => {
    fc.assert(
      fc.property(tensorListArb, metadataArb, (tensors, metadata) => {
        const dir = freshDir();
        const file = join(dir, "x.safetensors");
        writeSafetensors(file, tensors, metadata);
        const bytes = encodeSafetensors(tensors, metadata);
        expect(new Uint8Array(readFileSync(file))).toEqual(bytes);
        const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
        expect(headerLength % 8).toBe(0);
        const header = parseSafetensorsHeader(bytes, bytes.length, "x.safetensors");
        expectConsistent(header, bytes.length);
        rmSync(dir, { recursive: true });
      }),
      { numRuns: 40 },
    );
  });

  it("round-trips sharded checkpoints", () => {
    fc.assert(
      fc.property(tensorListArb, fc.integer({ min: 1, max: 200 }), (tensors, maxShardBytes) => {
        const dir = freshDir();
        const { indexPath, shardPaths } = writeShardedSafetensors(dir, tensors, maxShardBytes, { format: "pt" });
        const index = JSON.parse(readFileSync(indexPath, "utf8"));
        expect(Object.keys(index.weight_map).length).toBe(tensors.length);
        expect(shardPaths.every((p) => /model-\d{5}-of-\d{5}\.safetensors$/.test(p))).toBe(true);
        for (const source of [dir, indexPath]) {
          const checkpoint = SafetensorsCheckpoint.open(...checkpointPath(source));
          try {
            expectCheckpointHolds(checkpoint, tensors);
            expect(checkpoint.files.length).toBe(shardPaths.length);
          } finally {
            checkpoint.close();
          }
        }
        rmSync(dir, { recursive: true });
      }),
      { numRuns: 30 },
    );
  });

  it("writes and reads every dtype, converting numerically", () => {
    const dir = freshDir();
    const file = join(dir, "all.safetensors");
    const tensors: SafetensorsTensorData[] = [
      { name: "u8", dtype: "U8", shape: [3], data: Uint8Array.from([0, 7, 255]) }, // misaligns what follows
      { name: "f32", dtype: "F32", shape: [2], data: Float32Array.from([1.25, -3]) },
      { name: "f64", dtype: "F64", shape: [2], data: Float32Array.from([0.1, -7]) },
      { name: "f16", dtype: "F16", shape: [3], data: Float32Array.from([1, -2, 65504]) },
      { name: "bf16", dtype: "BF16", shape: [2], data: Float32Array.from([1, -2]) },
      { name: "i64", dtype: "I64", shape: [2], data: Int32Array.from([-5, 1 << 30]) },
      { name: "i32", dtype: "I32", shape: [2], data: Int32Array.from([-5, 123456]) },
      { name: "i16", dtype: "I16", shape: [2], data: Int32Array.from([-300, 300]) },
      { name: "i8", dtype: "I8", shape: [2], data: Int32Array.from([-128, 127]) },
      { name: "bool", dtype: "BOOL", shape: [3], data: Int32Array.from([0, 1, 5]) },
      { name: "scalar", dtype: "F32", shape: [], data: Float32Array.from([42]) },
      { name: "empty", dtype: "F16", shape: [0, 3], data: new Float32Array(0) },
    ];
    writeSafetensors(file, tensors);
    const checkpoint = SafetensorsCheckpoint.open(...checkpointPath(file));
    const read = (name: string) => Array.from(checkpoint.float32(name));
    expect(read("u8")).toEqual([0, 7, 255]);
    expect(read("f32")).toEqual([1.25, -3]);
    expect(read("f64")).toEqual([Math.fround(0.1), -7]);
    expect(read("f16")).toEqual([1, -2, 65504]);
    expect(read("bf16")).toEqual([1, -2]);
    expect(read("i64")).toEqual([-5, 2 ** 30]);
    expect(read("i32")).toEqual([-5, 123456]);
    expect(read("i16")).toEqual([-300, 300]);
    expect(read("i8")).toEqual([-128, 127]);
    expect(read("bool")).toEqual([0, 1, 1]);
    expect(read("scalar")).toEqual([42]);
    expect(checkpoint.info("scalar").shape).toEqual([]);
    expect(read("empty")).toEqual([]);
    expect(checkpoint.info("f32")).toEqual({ name: "f32", dtype: "F32", shape: [2] });
    checkpoint.close();
  });

  it("rejects writes that do not match their shape or repeat a name", () => {
    const file = join(freshDir(), "bad.safetensors");
    expectWeightError(
      () => writeSafetensors(file, [{ name: "x", dtype: "F32", shape: [3], data: new Float32Array(2) }]),
      '"x"',
      "2 values",
    );
    expectWeightError(() => writeSafetensors(file, [{ name: "x", dtype: "F32", shape: [2], data: new Uint8Array(7) }]), "7 raw bytes");
    expectWeightError(
      () =>
        writeSafetensors(file, [
          { name: "x", dtype: "U8", shape: [1], data: new Uint8Array(1) },
          { name: "x", dtype: "U8", shape: [1], data: new Uint8Array(1) },
        ]),
      "repeated",
    );
    expectWeightError(
      () => writeSafetensors(file, [{ name: "x", dtype: "I32", shape: [1], data: Float32Array.from([0.5]) }]),
      "not an integer",
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Initializer bytes and laziness

describe("float32Bytes", () => {
  it("is a file range holding the data for F32 tensors", () => {
    const dir = freshDir();
    const file = join(dir, "model.safetensors");
    const data = Float32Array.from([1, 2, 3, -4.5, 1e-30]);
    writeSafetensors(file, [
      { name: "odd", dtype: "U8", shape: [5], data: new Uint8Array(5) },
      { name: "w", dtype: "F32", shape: [5], data },
    ]);
    const checkpoint = SafetensorsCheckpoint.open(...checkpointPath(dir));
    const bytes = checkpoint.float32Bytes("w");
    if (bytes.kind !== "file") throw new Error(`expected a file range, got ${bytes.kind}`);
    expect(bytes.source.label).toBe(checkpoint.files[0]);
    expect(bytes.length).toBe(20);
    const onDisk = readFileSync(bytes.source.label).subarray(bytes.offset, bytes.offset + bytes.length);
    expect(new Uint8Array(onDisk)).toEqual(new Uint8Array(data.buffer));
    checkpoint.close();
  });

  it("is lazy float32 bytes for F16 tensors", () => {
    const file = join(freshDir(), "half.safetensors");
    writeSafetensors(file, [{ name: "h", dtype: "F16", shape: [2, 2], data: Float32Array.from([1, -2, 0.5, 65504]) }]);
    const checkpoint = SafetensorsCheckpoint.open(...checkpointPath(file));
    const bytes = checkpoint.float32Bytes("h");
    if (bytes.kind !== "lazy") throw new Error(`expected lazy bytes, got ${bytes.kind}`);
    expect(bytes.length).toBe(16);
    const read = bytes.read();
    expect(read.byteLength).toBe(16);
    expect(Array.from(new Float32Array(read.slice().buffer))).toEqual([1, -2, 0.5, 65504]);
    checkpoint.close();
  });
});

describe("lazy loading", () => {
  it("reads only the asked-for tensor's range: a tensor cut off after opening fails alone", () => {
    const { file, a } = writeTwoTensorFile();
    const checkpoint = SafetensorsCheckpoint.open(...checkpointPath(file));
    const bytes = readFileSync(file);
    const bInfo = parseSafetensorsHeader(bytes, bytes.length, file).tensors.get("b")!;
    // Cut b's data after opening: a reader that loaded data at open would still serve b, and one
    // that reads more than a's range would fail on a.
    truncateSync(file, bInfo.offset + 4);
    expectSameFloats(checkpoint.float32("a"), a);
    expect(checkpoint.info("b")).toEqual({ name: "b", dtype: "F32", shape: [16] });
    expect(checkpoint.float32Bytes("b").kind).toBe("file");
    expectWeightError(() => checkpoint.float32("b"), file, "truncated", "re-download");
    checkpoint.close();
  });

  it("reads from disk on each call, not from a copy taken at open", () => {
    const { file } = writeTwoTensorFile();
    const checkpoint = SafetensorsCheckpoint.open(...checkpointPath(file));
    const bInfo = SafetensorsFile.open(folderFiles(dirname(file)), basename(file)).tensors.get("b")!;
    const replacement = Float32Array.from({ length: 16 }, () => 7);
    const fd = openSync(file, "r+");
    writeSync(fd, new Uint8Array(replacement.buffer), 0, bInfo.length, bInfo.offset);
    closeSync(fd);
    expectSameFloats(checkpoint.float32("b"), replacement);
    checkpoint.close();
    expectWeightError(() => checkpoint.float32("b"), "closed");
  });
});

// ---------------------------------------------------------------------------------------------
// Checkpoint-level errors

describe("checkpoint errors", () => {
  it("names the tensor, the checkpoint and a prefixed look-alike when a tensor is missing", () => {
    const file = join(freshDir(), "model.safetensors");
    writeSafetensors(file, [{ name: "bert.embeddings.word_embeddings.weight", dtype: "F32", shape: [1], data: new Float32Array(1) }]);
    const checkpoint = SafetensorsCheckpoint.open(...checkpointPath(file));
    expect(checkpoint.has("embeddings.word_embeddings.weight")).toBe(false);
    expectWeightError(
      () => checkpoint.info("embeddings.word_embeddings.weight"),
      '"embeddings.word_embeddings.weight"',
      file,
      '"bert.embeddings.word_embeddings.weight"',
    );
    const plain = expectWeightError(() => checkpoint.float32("pooler.dense.bias"), '"pooler.dense.bias"', file);
    expect(plain).not.toContain("prefix");
    checkpoint.close();
  });

  it("reports a missing shard file", () => {
    const dir = freshDir();
    const tensors: SafetensorsTensorData[] = [
      { name: "a", dtype: "F32", shape: [8], data: new Float32Array(8) },
      { name: "b", dtype: "F32", shape: [8], data: new Float32Array(8) },
    ];
    const { shardPaths } = writeShardedSafetensors(dir, tensors, 32);
    expect(shardPaths.length).toBe(2);
    unlinkSync(shardPaths[1]!);
    expectWeightError(
      () => SafetensorsCheckpoint.open(...checkpointPath(dir)),
      "model-00002-of-00002.safetensors",
      "does not exist",
      "model.safetensors.index.json",
    );
  });

  it("reports an index that puts a tensor in the wrong shard", () => {
    const dir = freshDir();
    const tensors: SafetensorsTensorData[] = ["a", "b", "c", "d"].map((name) => ({
      name,
      dtype: "F32",
      shape: [4],
      data: new Float32Array(4),
    }));
    const { indexPath, shardPaths } = writeShardedSafetensors(dir, tensors, 32);
    expect(shardPaths.length).toBe(2);
    const index = JSON.parse(readFileSync(indexPath, "utf8"));
    expect(index.weight_map.c).toBe("model-00002-of-00002.safetensors");
    index.weight_map.c = "model-00001-of-00002.safetensors";
    writeFileSync(indexPath, JSON.stringify(index));
    expectWeightError(
      () => SafetensorsCheckpoint.open(...checkpointPath(dir)),
      '"c"',
      '"model-00001-of-00002.safetensors"',
      "does not contain",
      'it is in "model-00002-of-00002.safetensors"',
    );
  });

  it("rejects corrupt indexes and shards outside the folder", () => {
    const dir = freshDir();
    const indexPath = join(dir, "model.safetensors.index.json");
    for (const [index, fragment] of [
      ["not json", "not valid JSON"],
      [JSON.stringify({ metadata: {} }), "no weight_map"],
      [JSON.stringify({ weight_map: { a: 3 } }), '"a"'],
      [JSON.stringify({ weight_map: { a: "../elsewhere.safetensors" } }), "outside"],
    ] as const) {
      writeFileSync(indexPath, index);
      expectWeightError(() => SafetensorsCheckpoint.open(...checkpointPath(dir)), "model.safetensors.index.json", fragment);
    }
  });

  it("reports folders without weights and paths that do not exist", () => {
    const dir = freshDir();
    expectWeightError(() => SafetensorsCheckpoint.open(...checkpointPath(dir)), dir, "model.safetensors");
    expectWeightError(() => SafetensorsCheckpoint.open(...checkpointPath(join(dir, "nope"))), "nope", "no such file");
  });

  it("refuses an index that is a FIFO or larger than any index, unread, naming it", () => {
    const dir = freshDir();
    const indexPath = join(dir, "model.safetensors.index.json");
    execFileSync("mkfifo", [indexPath]);
    expectWeightError(
      () => SafetensorsCheckpoint.open(...checkpointPath(dir)),
      `${indexPath} is a FIFO (named pipe), not a regular file; replace it with the model's real weights file`,
    );
    rmSync(indexPath);
    writeFileSync(indexPath, "");
    truncateSync(indexPath, 100_000_001); // sparse: no disk used
    expectWeightError(
      () => SafetensorsCheckpoint.open(...checkpointPath(dir)),
      `${indexPath} is 100000001 bytes, more than the 100000000 such a file may have; replace it with the model's real weights file`,
    );
  });

  it("refuses a weights file that is a FIFO or a folder, unread, naming it once", () => {
    const dir = freshDir();
    const weights = join(dir, "model.safetensors");
    execFileSync("mkfifo", [weights]);
    const fifo = expectWeightError(
      () => SafetensorsCheckpoint.open(...checkpointPath(dir)),
      `${weights} is a FIFO (named pipe), not a regular file; replace it with the model's real weights file`,
    );
    expect(fifo.split(weights)).toHaveLength(2);
    rmSync(weights);
    mkdirSync(weights);
    const folder = expectWeightError(
      () => SafetensorsCheckpoint.open(...checkpointPath(dir)),
      `${weights} is a folder`,
      "replace it with the model's real weights file",
    );
    expect(folder.split(weights)).toHaveLength(2);
  });

  it("prefers model.safetensors over an index in the same folder", () => {
    const dir = freshDir();
    writeSafetensors(join(dir, "model.safetensors"), [{ name: "single", dtype: "U8", shape: [1], data: new Uint8Array(1) }]);
    writeFileSync(join(dir, "model.safetensors.index.json"), "garbage");
    const checkpoint = SafetensorsCheckpoint.open(...checkpointPath(dir));
    expect(checkpoint.names()).toEqual(["single"]);
    checkpoint.close();
  });
});

// ---------------------------------------------------------------------------------------------
// Hostile input

const LABEL = "model.safetensors";

/** A valid file with a few tensors of different dtypes, used as a base for corruption. */
function sampleFileBytes(): Uint8Array {
  return encodeSafetensors(
    [
      { name: "encoder.layer.0.attention.self.query.weight", dtype: "F32", shape: [3, 2], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
      { name: "mask", dtype: "U8", shape: [3], data: Uint8Array.from([1, 0, 1]) },
      { name: "half", dtype: "F16", shape: [2], data: Float32Array.from([0.5, -1]) },
      { name: "ids", dtype: "I64", shape: [1], data: BigInt64Array.from([9n]) },
    ],
    { format: "pt" },
  );
}

describe("hostile input", () => {
  it("gives the documented messages for a shape mismatch and a truncated file", () => {
    const header = {
      "encoder.layer.0.attention.self.query.weight": { dtype: "F32", shape: [384, 384], data_offsets: [0, 4096] },
    };
    const bytes = rawFile(header, new Uint8Array(4096));
    expect(expectWeightError(() => parseSafetensorsHeader(bytes, bytes.length, LABEL))).toBe(
      'model.safetensors: tensor "encoder.layer.0.attention.self.query.weight" data_offsets [0, 4096] do not match shape [384, 384] × F32 (589824 bytes); the file is corrupt — re-download it',
    );
    const truncated = rawFile(header).subarray(0, 20);
    const headerLength = bytes.length - 8 - 4096;
    expect(expectWeightError(() => parseSafetensorsHeader(truncated, 20, LABEL))).toBe(
      `model.safetensors is truncated: header says ${headerLength} bytes but the file has 20; re-download it`,
    );
  });

  const tensor = (fields: Record<string, unknown>) => ({ t: { dtype: "F32", shape: [2], data_offsets: [0, 8], ...fields } });
  const cases: Array<[string, Uint8Array, string]> = [
    ["empty file", new Uint8Array(0), "truncated"],
    ["7-byte file", new Uint8Array(7), "truncated"],
    ["N = 2^63", rawFile({}, new Uint8Array(0), 2n ** 63n), "limit"],
    ["N = 2^64 - 1", rawFile({}, new Uint8Array(0), 2n ** 64n - 1n), "limit"],
    ["N past the end", rawFile({}, new Uint8Array(0), 1000n), "truncated"],
    ["N = 0", rawFile("", new Uint8Array(0)), "not valid JSON"],
    ["invalid UTF-8", rawFile("", Uint8Array.from([0xff, 0xfe]), 2n), "UTF-8"],
    ["array header", rawFile([]), "not a JSON object"],
    ["string header", rawFile('"hello"'), "not a JSON object"],
    ["null header", rawFile("null"), "not a JSON object"],
    ["number header", rawFile("42"), "not a JSON object"],
    ["bad JSON", rawFile('{"t": '), "not valid JSON"],
    ["entry not an object", rawFile({ t: [1, 2] }), '"t"'],
    ["unknown dtype", rawFile(tensor({ dtype: "F8_E4M3" }), new Uint8Array(8)), "does not support"],
    ["prototype dtype", rawFile(tensor({ dtype: "toString" }), new Uint8Array(8)), "does not support"],
    ["numeric dtype", rawFile(tensor({ dtype: 5 }), new Uint8Array(8)), "not a dtype name"],
    ["negative dim", rawFile(tensor({ shape: [-2] }), new Uint8Array(8)), "shape [-2]"],
    ["fractional dim", rawFile(tensor({ shape: [1.5] }), new Uint8Array(8)), "shape"],
    ["huge dim", rawFile(tensor({ shape: [1e300] }), new Uint8Array(8)), "shape"],
    ["string dim", rawFile(tensor({ shape: ["2"] }), new Uint8Array(8)), "shape"],
    ["shape not a list", rawFile(tensor({ shape: 2 }), new Uint8Array(8)), "shape"],
    ["missing shape", rawFile({ t: { dtype: "F32", data_offsets: [0, 8] } }, new Uint8Array(8)), "shape"],
    ["overflowing shape", rawFile(tensor({ shape: [2 ** 40, 2 ** 40, 2 ** 40] }), new Uint8Array(8)), "more than 2^53"],
    ["offsets out of range", rawFile(tensor({ data_offsets: [0, 8] }), new Uint8Array(4)), "reach past"],
    ["offsets reversed", rawFile(tensor({ data_offsets: [8, 0] }), new Uint8Array(8)), "end before"],
    ["one offset", rawFile(tensor({ data_offsets: [0] }), new Uint8Array(8)), "data_offsets"],
    ["unsafe offset", rawFile(tensor({ data_offsets: [0, 2 ** 60] }), new Uint8Array(8)), "data_offsets"],
    ["negative offset", rawFile(tensor({ data_offsets: [-8, 0] }), new Uint8Array(8)), "data_offsets"],
    ["shape mismatch", rawFile(tensor({ shape: [3] }), new Uint8Array(8)), "do not match"],
    [
      "overlap",
      rawFile(
        {
          a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
          b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
        },
        new Uint8Array(12),
      ),
      "overlap",
    ],
    ["metadata with a number", rawFile({ __metadata__: { format: 1 } }), "__metadata__"],
    ["metadata array", rawFile({ __metadata__: ["pt"] }), "__metadata__"],
    ["metadata null", rawFile({ __metadata__: null }), "__metadata__"],
    [
      "deeply nested shape",
      rawFile(`{"t":{"dtype":"F32","shape":${"[".repeat(100_000)}${"]".repeat(100_000)},"data_offsets":[0,0]}}`),
      "shape",
    ],
  ];

  it.each(cases)("rejects %s with a WeightError", (_, bytes, fragment) => {
    expectWeightError(() => parseSafetensorsHeader(bytes, bytes.length, LABEL), LABEL, fragment);
  });

  it("rejects the same hostile files on disk, closing what it opened", () => {
    const dir = freshDir();
    const openDescriptors = () => (existsSync("/proc/self/fd") ? readdirSync("/proc/self/fd").length : 0);
    const before = openDescriptors();
    for (const [what, bytes, fragment] of cases) {
      const file = join(dir, `${what.replace(/\W/g, "_")}.safetensors`);
      writeFileSync(file, bytes);
      expectWeightError(() => SafetensorsCheckpoint.open(...checkpointPath(file)), file, fragment);
    }
    expect(openDescriptors()).toBe(before);
  });

  it("accepts zero-size tensors anywhere and a header padded with spaces", () => {
    const header = {
      a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
      empty: { dtype: "F32", shape: [0, 4], data_offsets: [4, 4] },
      __metadata__: { k: "v" },
    };
    const bytes = rawFile(`${JSON.stringify(header)}      `, new Uint8Array(8));
    const parsed = parseSafetensorsHeader(bytes, bytes.length, LABEL);
    expect(parsed.tensors.get("empty")).toMatchObject({ shape: [0, 4], length: 0 });
    expect(parsed.metadata).toEqual({ k: "v" });
    // The header may sit anywhere inside a larger buffer.
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    expect(parseSafetensorsHeader(shifted.subarray(3), bytes.length, LABEL).tensors.size).toBe(2);
  });

  it("survives random garbage", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 96 }), (bytes) => {
        const header = parseOrReject(bytes, bytes.length, LABEL);
        if (header) expectConsistent(header, bytes.length);
      }),
      { numRuns: 500 },
    );
  });

  it("survives garbage behind a plausible header length", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 96 }), fc.nat(), (garbage, n) => {
        const bytes = rawFile("", garbage, BigInt(n % (garbage.length + 1)));
        const header = parseOrReject(bytes, bytes.length, LABEL);
        if (header) expectConsistent(header, bytes.length);
      }),
      { numRuns: 500 },
    );
  });

  it("survives random JSON headers and entries", () => {
    const fieldArb = fc.oneof(fc.anything(), fc.constantFrom("F32", "U8", "BF16", [2], [0, 8], [8, 0], [], [0]));
    const entryArb = fc.oneof(fc.anything(), fc.record({ dtype: fieldArb, shape: fieldArb, data_offsets: fieldArb }, { requiredKeys: [] }));
    fc.assert(
      fc.property(
        fc.oneof(
          fc.json(),
          fc.dictionary(fc.string({ maxLength: 6 }), entryArb).map((o) => JSON.stringify(o)),
        ),
        fc.nat(16),
        (json, extra) => {
          const bytes = rawFile(json, new Uint8Array(extra));
          const header = parseOrReject(bytes, bytes.length, LABEL);
          if (header) expectConsistent(header, bytes.length);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("rejects every truncation of a valid file and reads the full one", () => {
    const bytes = sampleFileBytes();
    const lastEnd = Math.max(...[...parseSafetensorsHeader(bytes, bytes.length, LABEL).tensors.values()].map((t) => t.offset + t.length));
    for (let length = 0; length <= bytes.length; length++) {
      const header = parseOrReject(bytes.subarray(0, length), length, LABEL);
      expect(header !== undefined).toBe(length >= lastEnd);
    }
  });

  it("rejects truncated files on disk at open or at read, never otherwise", () => {
    const bytes = sampleFileBytes();
    const dir = freshDir();
    const file = join(dir, LABEL);
    for (let length = 0; length <= bytes.length; length += 7) {
      writeFileSync(file, bytes.subarray(0, length));
      const err = thrownBy(() => {
        const checkpoint = SafetensorsCheckpoint.open(...checkpointPath(file));
        for (const name of checkpoint.names()) checkpoint.float32(name);
        checkpoint.close();
      });
      if (err !== undefined) {
        expect(err).toBeInstanceOf(WeightError);
        expect((err as WeightError).message).toContain(LABEL);
      }
    }
  });

  it("survives random byte flips of a valid file", () => {
    const original = sampleFileBytes();
    const flipArb = fc.array(fc.tuple(fc.nat(original.length - 1), fc.integer({ min: 0, max: 255 })), {
      minLength: 1,
      maxLength: 4,
    });
    fc.assert(
      fc.property(flipArb, (flips) => {
        const bytes = original.slice();
        for (const [at, value] of flips) bytes[at] = value;
        const header = parseOrReject(bytes, bytes.length, LABEL);
        if (header) expectConsistent(header, bytes.length);
      }),
      { numRuns: 1000 },
    );
  });

  it("survives byte flips on disk through open and every read", () => {
    const original = sampleFileBytes();
    const dir = freshDir();
    const file = join(dir, LABEL);
    fc.assert(
      fc.property(fc.nat(original.length - 1), fc.integer({ min: 0, max: 255 }), (at, value) => {
        const bytes = original.slice();
        bytes[at] = value;
        writeFileSync(file, bytes);
        const err = thrownBy(() => {
          const checkpoint = SafetensorsCheckpoint.open(...checkpointPath(file));
          try {
            for (const name of checkpoint.names()) {
              const info = checkpoint.info(name);
              expect(checkpoint.float32(name).length).toBe(product(info.shape));
            }
          } finally {
            checkpoint.close();
          }
        });
        if (err !== undefined && !(err instanceof WeightError)) throw err;
      }),
      { numRuns: 150 },
    );
  });
});

describe("the finite scan of float32 bytes", () => {
  /** The first element whose exponent bits are all set, read one value at a time. */
  const naive = (bytes: Uint8Array): number => {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < bytes.length / 4; i++) if (!Number.isFinite(view.getFloat32(i * 4, true))) return i;
    return -1;
  };
  const special = fc.constantFrom(NaN, Infinity, -Infinity, 3.4028234663852886e38, -0, 1.17549435e-38, 1.4e-45);

  it("finds the first NaN/±Inf wherever the bytes start, aligned or not, and in a Float32Array", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.float({ noNaN: true, noDefaultInfinity: true }), special), { maxLength: 40 }),
        fc.integer({ min: 0, max: 3 }),
        (values, shift) => {
          const backing = new Uint8Array(values.length * 4 + shift);
          const bytes = backing.subarray(shift);
          const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
          values.forEach((v, i) => view.setFloat32(i * 4, v, true));
          expect(firstNonFiniteBytes(bytes)).toBe(naive(bytes));
          expect(firstNonFinite(Float32Array.from(values))).toBe(naive(bytes));
        },
      ),
    );
  });
});
