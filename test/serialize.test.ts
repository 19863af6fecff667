import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import fc from "fast-check";
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it, vi } from "vitest";
import {
  type Attribute,
  DataType,
  type Dim,
  type Graph,
  type Initializer,
  type Model,
  type Node,
  type ValueInfo,
  elementCount,
  BYTES_PER_ELEMENT,
} from "../src/graph/ir.js";
import { DataLocation, onnx } from "../src/graph/onnx-proto.js";
import { decodeModel, initializerToFloat32, initializerToInt64 } from "../src/graph/onnx-reader.js";
import { readModel } from "../src/graph/onnx-file.js";
import { encodeModel, externalDataNeeded, AUTO_EXTERNAL_DATA_BYTES } from "../src/graph/onnx-writer.js";
import { externalDataPathOf, modelFileBytes, removeModelFiles, writeModel } from "../src/graph/onnx-file.js";
import { readTensorBytes } from "../src/graph/tensor-bytes.js";
import { fileSource } from "../src/common/files.js";
import { folderFiles } from "../src/common/node-files.js";

/** The bytes of the file at `path`, read on demand. */
const pathSource = (path: string) => fileSource(folderFiles(dirname(path)), basename(path));

const root = mkdtempSync(join(tmpdir(), "serialize-test-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirCounter = 0;
function freshDir(): string {
  const dir = join(root, `case-${dirCounter++}`);
  mkdirSync(dir);
  return dir;
}

// ---------------------------------------------------------------------------------------------
// Building and comparing models

function f32(name: string, dims: number[], values: number[]): Initializer {
  return { name, dataType: DataType.FLOAT, dims, data: { kind: "bytes", bytes: new Uint8Array(Float32Array.from(values).buffer) } };
}

function tensorInfo(name: string, elemType: DataType, shape?: Dim[]): ValueInfo {
  return shape === undefined ? { name, elemType } : { name, elemType, shape };
}

function node(opType: string, inputs: string[], outputs: string[], attributes: Record<string, Attribute> = {}): Node {
  return { opType, domain: "", name: `${opType}_${outputs[0]}`, inputs, outputs, attributes };
}

function modelOf(graph: Partial<Graph>): Model {
  return {
    irVersion: 8,
    opsetImports: [
      { domain: "", version: 17 },
      { domain: "com.microsoft", version: 1 },
    ],
    producerName: "serialize.test",
    producerVersion: "0",
    metadata: { source: "hand-written" },
    graph: { name: "g", nodes: [], initializers: [], inputs: [], outputs: [], valueInfo: [], ...graph },
  };
}

/** The model with every tensor as plain bytes and floats rounded to float32, for toEqual. */
function normalize(model: Model): unknown {
  const tensor = (init: Initializer) => ({
    name: init.name,
    dataType: init.dataType,
    dims: init.dims,
    bytes: Uint8Array.from(readTensorBytes(init.data)),
  });
  const attribute = (a: Attribute): unknown => {
    if (a.kind === "float") return { kind: a.kind, value: Math.fround(a.value) };
    if (a.kind === "floats") return { kind: a.kind, value: a.value.map(Math.fround) };
    if (a.kind === "tensor") return { kind: a.kind, value: tensor(a.value) };
    return a;
  };
  return {
    ...model,
    graph: {
      ...model.graph,
      initializers: model.graph.initializers.map(tensor),
      nodes: model.graph.nodes.map((n) => ({
        ...n,
        attributes: Object.fromEntries(Object.entries(n.attributes).map(([k, a]) => [k, attribute(a)])),
      })),
    },
  };
}

function tempFilesIn(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.includes(".tmp-"));
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

const nameArb = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.\/:]{0,10}$/);
const textArb = fc.string({ unit: "grapheme", maxLength: 12 });
const storedTypeArb = fc.constantFrom(DataType.FLOAT, DataType.INT64, DataType.INT8, DataType.UINT8);

const initializerArb: fc.Arbitrary<Initializer> = fc
  .record({ name: nameArb, dataType: storedTypeArb, dims: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }) })
  .chain(({ name, dataType, dims }) => {
    const length = elementCount(dims) * BYTES_PER_ELEMENT[dataType]!;
    return fc
      .uint8Array({ minLength: length, maxLength: length })
      .map((bytes): Initializer => ({ name, dataType, dims, data: { kind: "bytes", bytes } }));
  });

const attributeArb: fc.Arbitrary<Attribute> = fc.oneof(
  fc.maxSafeInteger().map((value): Attribute => ({ kind: "int", value })),
  fc.float().map((value): Attribute => ({ kind: "float", value })),
  fc.double().map((value): Attribute => ({ kind: "float", value })), // rounded to float32 on the way
  textArb.map((value): Attribute => ({ kind: "string", value })),
  fc.array(fc.maxSafeInteger(), { maxLength: 5 }).map((value): Attribute => ({ kind: "ints", value })),
  fc.array(fc.float(), { maxLength: 5 }).map((value): Attribute => ({ kind: "floats", value })),
  fc.array(textArb, { maxLength: 4 }).map((value): Attribute => ({ kind: "strings", value })),
  initializerArb.map((value): Attribute => ({ kind: "tensor", value })),
);

const nodeArb: fc.Arbitrary<Node> = fc.record({
  opType: nameArb,
  domain: fc.constantFrom("", "com.microsoft"),
  name: nameArb,
  inputs: fc.array(fc.oneof(nameArb, fc.constant("")), { maxLength: 4 }),
  outputs: fc.array(nameArb, { minLength: 1, maxLength: 3 }),
  attributes: fc.dictionary(nameArb, attributeArb, { maxKeys: 4 }),
});

const dimArb: fc.Arbitrary<Dim> = fc.oneof(fc.nat(100_000), fc.constantFrom("batch", "sequence", "hidden_2"));
const valueInfoArb: fc.Arbitrary<ValueInfo> = fc
  .record({ name: nameArb, elemType: storedTypeArb, shape: fc.option(fc.array(dimArb, { maxLength: 4 })) })
  .map(({ name, elemType, shape }) => tensorInfo(name, elemType, shape ?? undefined));

const modelArb: fc.Arbitrary<Model> = fc.record({
  irVersion: fc.integer({ min: 3, max: 10 }),
  opsetImports: fc
    .uniqueArray(fc.constantFrom("", "com.microsoft", "ai.onnx.ml", "custom.domain"), { minLength: 1 })
    .chain((domains) => fc.tuple(...domains.map((domain) => fc.integer({ min: 1, max: 23 }).map((version) => ({ domain, version }))))),
  producerName: textArb,
  producerVersion: textArb,
  metadata: fc.dictionary(textArb, textArb, { maxKeys: 3 }),
  graph: fc.record({
    name: textArb,
    nodes: fc.array(nodeArb, { maxLength: 5 }),
    initializers: fc.array(initializerArb, { maxLength: 5 }),
    inputs: fc.array(valueInfoArb, { maxLength: 3 }),
    outputs: fc.array(valueInfoArb, { maxLength: 3 }),
    valueInfo: fc.array(valueInfoArb, { maxLength: 3 }),
  }),
});

// ---------------------------------------------------------------------------------------------

describe("round trips", () => {
  it("encodeModel -> decodeModel reproduces arbitrary models", () => {
    fc.assert(
      fc.property(modelArb, (model) => {
        expect(normalize(decodeModel(encodeModel(model)))).toEqual(normalize(model));
      }),
      { numRuns: 150 },
    );
  });

  it("writeModel -> readModel reproduces them, inline and with external data", async () => {
    const dir = freshDir();
    await fc.assert(
      fc.asyncProperty(modelArb, fc.integer({ min: 0, max: 64 }), async (model, threshold) => {
        const inlinePath = join(dir, "inline.onnx");
        const inline = await writeModel(model, inlinePath, { externalData: "never" });
        expect(inline.externalDataPath).toBeUndefined();
        expect(new Uint8Array(readFileSync(inlinePath))).toEqual(encodeModel(model));
        expect(normalize(readModel(inlinePath))).toEqual(normalize(model));

        const externalPath = join(dir, "external.onnx");
        const external = await writeModel(model, externalPath, { externalData: "always", externalDataThreshold: threshold });
        const back = readModel(externalPath);
        expect(normalize(back)).toEqual(normalize(model));
        for (const init of back.graph.initializers) {
          if (init.data.kind !== "file") continue;
          expect(init.data.source.label).toBe(external.externalDataPath);
          expect(init.data.offset % 64).toBe(0);
          expect(init.data.length).toBeGreaterThanOrEqual(Math.max(threshold, 1));
        }
        expect(tempFilesIn(dir)).toEqual([]);
        if (external.externalDataPath) {
          expect(external.externalDataPath).toBe(externalDataPathOf(externalPath));
          expect(modelFileBytes(externalPath)).toEqual({
            bytes: statSync(externalPath).size + statSync(external.externalDataPath).size,
            externalData: true,
          });
        }
        removeModelFiles(externalPath);
        expect(existsSync(externalPath) || existsSync(externalDataPathOf(externalPath))).toBe(false);
      }),
      { numRuns: 30 },
    );
  });

  it("decodes float_data / int32_data / int64_data tensors into raw little-endian bytes", () => {
    const bytes = onnx.ModelProto.encode({
      ir_version: 8,
      opset_import: [{ domain: "", version: 17 }],
      graph: {
        name: "typed",
        initializer: [
          { name: "f", data_type: DataType.FLOAT, dims: [3], float_data: [1.5, -2, 3.25] },
          { name: "i64", data_type: DataType.INT64, dims: [2], int64_data: [-5, 2 ** 40] },
          { name: "i8", data_type: DataType.INT8, dims: [3], int32_data: [-1, 127, -128] },
          { name: "i32", data_type: DataType.INT32, dims: [], int32_data: [-7] },
          { name: "empty", data_type: DataType.FLOAT, dims: [0] },
        ],
      },
    });
    const [f, i64, i8, i32, empty] = decodeModel(bytes).graph.initializers as Initializer[];
    expect(Array.from(initializerToFloat32(f!))).toEqual([1.5, -2, 3.25]);
    expect(Array.from(initializerToInt64(i64!))).toEqual([-5n, 2n ** 40n]);
    expect(Array.from(readTensorBytes(i8!.data))).toEqual([0xff, 0x7f, 0x80]);
    expect(Array.from(new Int32Array(Uint8Array.from(readTensorBytes(i32!.data)).buffer))).toEqual([-7]);
    expect(readTensorBytes(empty!.data).byteLength).toBe(0);
  });

  it("keeps int attributes exact up to 2^53 and rejects what int64-in-a-double would mangle", () => {
    const big = Number.MAX_SAFE_INTEGER;
    const model = modelOf({ nodes: [node("Op", [], ["y"], { i: { kind: "int", value: -big }, is: { kind: "ints", value: [big, -1] } })] });
    const back = decodeModel(encodeModel(model)).graph.nodes[0]!.attributes;
    expect(back.i).toEqual({ kind: "int", value: -big });
    expect(back.is).toEqual({ kind: "ints", value: [big, -1] });
    const bad = modelOf({ nodes: [node("Op", [], ["y"], { i: { kind: "int", value: 1.5 } })] });
    expect(() => encodeModel(bad)).toThrow(/attribute "i".*not an integer/);
  });

  it("chooses external data in auto mode only past the protobuf-safe size", () => {
    expect(externalDataNeeded(AUTO_EXTERNAL_DATA_BYTES, "auto")).toBe(false);
    expect(externalDataNeeded(AUTO_EXTERNAL_DATA_BYTES + 1, "auto")).toBe(true);
    expect(externalDataNeeded(0, "always")).toBe(true);
    expect(externalDataNeeded(2 ** 40, "never")).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// onnxruntime loads what we write

/** Y = X·W + B, Yt = transpose(Y), Z = 0.5·X·Wtᵀ + 2·B (Gemm with transB), batch dynamic. */
function linearModel(): Model {
  const w = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]; // [3, 4]
  const wt = [1, 5, 9, 2, 6, 10, 3, 7, 11, 4, 8, 12]; // [4, 3] = wᵀ
  return modelOf({
    initializers: [f32("W", [3, 4], w), f32("Wt", [4, 3], wt), f32("B", [4], [0.5, -1, 2, 0])],
    inputs: [tensorInfo("X", DataType.FLOAT, ["batch", 3])],
    outputs: [
      tensorInfo("Y", DataType.FLOAT, ["batch", 4]),
      tensorInfo("Yt", DataType.FLOAT, [4, "batch"]),
      tensorInfo("Z", DataType.FLOAT, ["batch", 4]),
    ],
    valueInfo: [tensorInfo("XW", DataType.FLOAT, ["batch", 4])],
    nodes: [
      node("MatMul", ["X", "W"], ["XW"]),
      node("Add", ["XW", "B"], ["Y"]),
      node("Transpose", ["Y"], ["Yt"], { perm: { kind: "ints", value: [1, 0] } }),
      node("Gemm", ["X", "Wt", "B"], ["Z"], {
        alpha: { kind: "float", value: 0.5 },
        beta: { kind: "float", value: 2 },
        transB: { kind: "int", value: 1 },
      }),
    ],
  });
}

/** out = Gather(E, ids) * Constant(2.5): an embedding lookup and a tensor attribute. */
function embeddingModel(): Model {
  const table = Array.from({ length: 10 * 8 }, (_, i) => i / 4 - 3);
  return modelOf({
    initializers: [f32("E", [10, 8], table)],
    inputs: [tensorInfo("ids", DataType.INT64, ["batch", "sequence"])],
    outputs: [tensorInfo("out", DataType.FLOAT, ["batch", "sequence", 8])],
    nodes: [
      node("Constant", [], ["scale"], { value: { kind: "tensor", value: f32("scale_value", [], [2.5]) } }),
      node("Gather", ["E", "ids"], ["rows"], { axis: { kind: "int", value: 0 } }),
      node("Mul", ["rows", "scale"], ["out"]),
    ],
  });
}

describe("onnxruntime-node runs written models", () => {
  for (const externalData of ["never", "always"] as const) {
    it(`MatMul/Add/Transpose/Gemm with externalData=${externalData}`, async () => {
      const path = join(freshDir(), "linear.onnx");
      const written = await writeModel(linearModel(), path, { externalData, externalDataThreshold: 0 });
      expect(existsSync(`${path}.data`)).toBe(externalData === "always");
      if (externalData === "always") expect(written.externalDataPath).toBe(`${path}.data`);

      const session = await ort.InferenceSession.create(path);
      const x = [1, 0, -1, 0.5, 2, 3]; // [2, 3]
      const out = await session.run({ X: new ort.Tensor("float32", Float32Array.from(x), [2, 3]) });
      const w = [
        [1, 2, 3, 4],
        [5, 6, 7, 8],
        [9, 10, 11, 12],
      ];
      const b = [0.5, -1, 2, 0];
      const xw = [0, 1].map((r) => [0, 1, 2, 3].map((c) => [0, 1, 2].reduce((s, k) => s + x[r * 3 + k]! * w[k]![c]!, 0)));
      const y = xw.map((row) => row.map((v, c) => v + b[c]!));
      const z = xw.map((row) => row.map((v, c) => 0.5 * v + 2 * b[c]!));
      expect(out.Y!.dims).toEqual([2, 4]);
      expectClose(out.Y!.data as Float32Array, y.flat());
      expect(out.Yt!.dims).toEqual([4, 2]);
      expectClose(
        out.Yt!.data as Float32Array,
        [0, 1, 2, 3].flatMap((c) => [y[0]![c]!, y[1]![c]!]),
      );
      expectClose(out.Z!.data as Float32Array, z.flat());
      await session.release();
    });

    it(`Gather from an embedding table with a tensor attribute, externalData=${externalData}`, async () => {
      const path = join(freshDir(), "embed.onnx");
      await writeModel(embeddingModel(), path, { externalData, externalDataThreshold: 0 });
      const session = await ort.InferenceSession.create(path);
      const ids = [3n, 0n, 9n, 3n, 1n, 2n]; // [2, 3]
      const out = await session.run({ ids: new ort.Tensor("int64", BigInt64Array.from(ids), [2, 3]) });
      expect(out.out!.dims).toEqual([2, 3, 8]);
      const expected = ids.flatMap((id) => Array.from({ length: 8 }, (_, j) => 2.5 * ((Number(id) * 8 + j) / 4 - 3)));
      expectClose(out.out!.data as Float32Array, expected);
      await session.release();
    });
  }
});

function expectClose(actual: Float32Array, expected: number[]): void {
  expect(actual.length).toBe(expected.length);
  expected.forEach((v, i) => expect(actual[i]).toBeCloseTo(v, 5));
}

// ---------------------------------------------------------------------------------------------
// Tensor sources

describe("tensor sources", () => {
  it("copies a file range and calls a lazy source exactly once", async () => {
    const dir = freshDir();
    const values = Float32Array.from({ length: 300 }, (_, i) => i * 0.25 - 7);
    const payload = new Uint8Array(values.buffer);
    const source = join(dir, "checkpoint.bin");
    const prefix = new Uint8Array(37).fill(0xab);
    writeFileSync(source, Buffer.concat([prefix, payload, new Uint8Array(11).fill(0xcd)]));
    const lazyValues = BigInt64Array.from([5n, -6n, 2n ** 60n]);
    const read = vi.fn(() => new Uint8Array(lazyValues.buffer));

    const model = modelOf({
      initializers: [
        {
          name: "fromFile",
          dataType: DataType.FLOAT,
          dims: [300],
          data: { kind: "file", source: pathSource(source), offset: 37, length: payload.byteLength },
        },
        { name: "lazy", dataType: DataType.INT64, dims: [3], data: { kind: "lazy", length: 24, read } },
      ],
    });
    for (const externalData of ["never", "always"] as const) {
      read.mockClear();
      const path = join(dir, `sources-${externalData}.onnx`);
      await writeModel(model, path, { externalData, externalDataThreshold: 0 });
      expect(read).toHaveBeenCalledTimes(1);
      const [fromFile, lazy] = readModel(path).graph.initializers as Initializer[];
      expect(initializerToFloat32(fromFile!)).toEqual(values);
      expect(initializerToInt64(lazy!)).toEqual(lazyValues);
    }
  });

  it("writes 4096-aligned offsets for tensors of 1 MiB and more", async () => {
    const dir = freshDir();
    const big = (name: string, n: number) =>
      f32(
        name,
        [n],
        Array.from({ length: n }, (_, i) => i % 7),
      );
    const model = modelOf({ initializers: [f32("small", [300], new Array(300).fill(1)), big("big1", 262_144), big("big2", 262_145)] });
    const path = join(dir, "aligned.onnx");
    await writeModel(model, path, { externalData: "always" });
    const offsets = rawInitializers(path).map((t) => Number(t.external_data!.find((e) => e.key === "offset")!.value));
    expect(offsets[0]! % 64).toBe(0);
    expect(offsets[1]! % 4096).toBe(0);
    expect(offsets[2]! % 4096).toBe(0);
    // Byte comparison: toEqual on megabyte typed arrays is slow.
    readModel(path).graph.initializers.forEach((init, i) => {
      expect(Buffer.compare(readTensorBytes(init.data), readTensorBytes(model.graph.initializers[i]!.data))).toBe(0);
    });
  });

  it("keeps tensors under the threshold inline", async () => {
    const path = join(freshDir(), "threshold.onnx");
    const model = modelOf({ initializers: [f32("tiny", [4], [1, 2, 3, 4]), f32("large", [512], new Array(512).fill(3))] });
    await writeModel(model, path, { externalData: "always" }); // default threshold 1024 bytes
    const [tiny, large] = rawInitializers(path);
    expect(tiny!.data_location ?? DataLocation.DEFAULT).toBe(DataLocation.DEFAULT);
    expect(large!.data_location).toBe(DataLocation.EXTERNAL);
    expect(large!.external_data!.map((e) => e.key)).toEqual(["location", "offset", "length"]);
    expect(large!.external_data![0]!.value).toBe("threshold.onnx.data");
  });

  it("auto mode keeps small models in one file", async () => {
    const path = join(freshDir(), "auto.onnx");
    const result = await writeModel(linearModel(), path);
    expect(result.externalDataPath).toBeUndefined();
    expect(existsSync(`${path}.data`)).toBe(false);
    expect(result.bytes).toBe(statSync(path).size);
  });
});

function rawInitializers(path: string) {
  return onnx.ModelProto.decode(readFileSync(path)).graph!.initializer!;
}

// ---------------------------------------------------------------------------------------------
// Failures

describe("failures", () => {
  it("names the path when the folder is a file, and leaves nothing behind", async () => {
    const dir = freshDir();
    writeFileSync(join(dir, "afile"), "x");
    const path = join(dir, "afile", "model.onnx");
    await expect(writeModel(linearModel(), path)).rejects.toThrow(path);
    expect(readdirSync(dir)).toEqual(["afile"]);
  });

  it("names the path when the folder does not exist", async () => {
    const path = join(freshDir(), "missing", "model.onnx");
    await expect(writeModel(linearModel(), path)).rejects.toThrow(path);
  });

  it("removes the temp file when the final rename fails (a folder sits at the path)", async () => {
    const dir = freshDir();
    const path = join(dir, "model.onnx");
    mkdirSync(path);
    writeFileSync(join(path, "keep"), "x");
    await expect(writeModel(linearModel(), path)).rejects.toThrow(path);
    expect(tempFilesIn(dir)).toEqual([]);
  });

  for (const externalData of ["never", "always"] as const) {
    it(`leaves an existing model untouched when a lazy source throws midway (externalData=${externalData})`, async () => {
      const dir = freshDir();
      const path = join(dir, "model.onnx");
      await writeModel(linearModel(), path, { externalData, externalDataThreshold: 0 });
      const before = snapshot(dir);

      const failing = linearModel();
      failing.graph.initializers.splice(1, 0, {
        name: "boom",
        dataType: DataType.FLOAT,
        dims: [2],
        data: {
          kind: "lazy",
          length: 8,
          read: () => {
            throw new Error("source exploded");
          },
        },
      });
      const error = await writeModel(failing, path, { externalData, externalDataThreshold: 0 }).catch((e: Error) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toContain(path);
      expect((error as Error).message).toContain("source exploded");
      expect(snapshot(dir)).toEqual(before);
    });
  }

  it("rejects a lazy source that returns the wrong number of bytes", async () => {
    const path = join(freshDir(), "model.onnx");
    const model = modelOf({
      initializers: [
        { name: "short", dataType: DataType.FLOAT, dims: [4], data: { kind: "lazy", length: 16, read: () => new Uint8Array(12) } },
      ],
    });
    await expect(writeModel(model, path)).rejects.toThrow(/"short".*12 bytes, expected 16/);
    expect(existsSync(path)).toBe(false);
  });

  it("rejects a file source that ends early, and initializers whose size does not match their dims", async () => {
    const dir = freshDir();
    const source = join(dir, "short.bin");
    writeFileSync(source, new Uint8Array(10));
    const truncated = modelOf({
      initializers: [
        { name: "t", dataType: DataType.FLOAT, dims: [4], data: { kind: "file", source: pathSource(source), offset: 2, length: 16 } },
      ],
    });
    await expect(writeModel(truncated, join(dir, "a.onnx"))).rejects.toThrow(/"t".*ends before byte 18/);
    const mismatched = modelOf({ initializers: [f32("m", [5], [1, 2, 3])] });
    expect(() => encodeModel(mismatched)).toThrow(/"m".*12 bytes.*need 20/);
    expect(tempFilesIn(dir)).toEqual([]);
  });

  it("refuses to inline more than protobuf's 2 GiB, before writing anything", async () => {
    const path = join(freshDir(), "huge.onnx");
    const read = vi.fn(() => new Uint8Array(0));
    const model = modelOf({
      initializers: [{ name: "huge", dataType: DataType.UINT8, dims: [2 ** 31], data: { kind: "lazy", length: 2 ** 31, read } }],
    });
    await expect(writeModel(model, path, { externalData: "never" })).rejects.toThrow(/2 GiB/);
    expect(read).not.toHaveBeenCalled();
  });
});

function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(dir).map((f) => [
      f,
      createHash("sha256")
        .update(readFileSync(join(dir, f)))
        .digest("hex"),
    ]),
  );
}

// ---------------------------------------------------------------------------------------------

describe("streaming", () => {
  it("writes a 64 MiB file-sourced initializer without holding it in memory", async () => {
    const dir = freshDir();
    const source = join(dir, "weights.bin");
    const mib = 2 ** 20;
    const chunk = new Uint8Array(mib);
    const handle = await open(source, "w");
    for (let i = 0; i < 64; i++) await handle.write(chunk.fill(i), 0, mib);
    await handle.close();

    const model = modelOf({
      initializers: [
        {
          name: "big",
          dataType: DataType.FLOAT,
          dims: [16, 1024 * 1024],
          data: { kind: "file", source: pathSource(source), offset: 0, length: 64 * mib },
        },
      ],
    });
    const path = join(dir, "big.onnx");
    const before = process.memoryUsage();
    let peak = { ...before };
    const sample = () => {
      const now = process.memoryUsage();
      peak = { ...peak, rss: Math.max(peak.rss, now.rss), arrayBuffers: Math.max(peak.arrayBuffers, now.arrayBuffers) };
    };
    const timer = setInterval(sample, 2);
    try {
      await writeModel(model, path, { externalData: "never" });
    } finally {
      clearInterval(timer);
      sample();
    }
    expect(peak.arrayBuffers - before.arrayBuffers).toBeLessThan(20 * mib);
    expect(peak.rss - before.rss).toBeLessThan(20 * mib);

    const written = readModel(path).graph.initializers[0]!;
    expect(Buffer.compare(readTensorBytes(written.data), readFileSync(source))).toBe(0);
  });
});
