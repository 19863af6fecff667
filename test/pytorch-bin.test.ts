// pytorch_model.bin: real-layout checkpoints (built by the fixture writer, whose pickles are
// byte-identical to CPython's for a state dict) load exactly; hostile pickles are refused and
// never executed; hostile zip bytes end in a WeightError, never a crash or a hang.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { openCheckpoint } from "../src/checkpoint/checkpoint.js";
import { PickleTuple, unpickle } from "../src/checkpoint/pickle.js";
import { PytorchBinCheckpoint, parseTorchArchive, readTensorBytes } from "../src/checkpoint/pytorch-bin.js";
import { SafetensorsCheckpoint } from "../src/checkpoint/safetensors.js";
import { type SafetensorsTensorData, writeSafetensors } from "../src/fixtures/safetensors-writer.js";
import { WeightError } from "../src/checkpoint/weights.js";
import { readZipDirectory, readZipEntry } from "../src/checkpoint/zip.js";
import { randomBatch } from "../src/fixtures/batches.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { type TorchSaveOptions, encodeTorchCheckpoint, encodeTorchZip, writePytorchBin } from "../src/fixtures/pytorch-bin.js";
import { readModel } from "../src/graph/onnx-file.js";
import { silentLogger } from "../src/common/log.js";
import { EmbeddingService } from "../src/export/service.js";
import { expectGraphMatchesReference, modelFolder, syntheticEncoder, tempDir } from "./helpers/index.js";
import { checkpointPath } from "../src/checkpoint/checkpoint-path.js";
import { folderFiles } from "../src/common/node-files.js";
import { memoryFile } from "../src/common/files.js";
import { readTensorBytes as readInitializerBytes } from "../src/graph/tensor-bytes.js";

const BERT = syntheticBert({ seed: 21 });

/** Every layout difference torch.save (and transformers) can produce, plus the reader's extra paths. */
const LAYOUTS: Array<[string, TorchSaveOptions]> = [
  ["OrderedDict state_dict with _metadata (torch.save default)", {}],
  ["plain dict (transformers' shards)", { container: "dict" }],
  ["pickle protocol 4 with FRAMEs", { protocol: 4, frameBytes: 512 }],
  ["transposed views and shared storages", { views: true }],
  ["deflated entries", { compress: true }],
  ["zip64 extra fields", { zip64: true }],
  ["no CRCs (torch's compute_crc32=False)", { crc: false }],
];

function expectSameTensors(
  store: { names(): string[]; info(n: string): { dtype: string; shape: number[] }; float32(n: string): Float32Array },
  tensors: readonly SafetensorsTensorData[],
): void {
  expect(store.names().sort()).toEqual(tensors.map((t) => t.name).sort());
  for (const t of tensors) {
    expect(store.info(t.name)).toMatchObject({ dtype: t.dtype, shape: t.shape });
    expect(store.float32(t.name), t.name).toEqual(t.data);
  }
}

function weightError(fn: () => unknown): WeightError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(WeightError);
    expect((error as Error).message).not.toMatch(/[\r\n]/);
    return error as WeightError;
  }
  throw new Error("expected a WeightError, but nothing was thrown");
}

describe("pytorch_model.bin: real-layout checkpoints", () => {
  for (const [name, layout] of LAYOUTS) {
    it(`reads every tensor exactly: ${name}`, () => {
      const path = writePytorchBin(join(tempDir(), "pytorch_model.bin"), BERT.tensors, layout);
      const store = PytorchBinCheckpoint.open(...checkpointPath(path));
      try {
        expectSameTensors(store, BERT.tensors);
      } finally {
        store.close();
      }
    });
  }

  it("gathers strided views of every element width and rank exactly as safetensors stores them row-major", () => {
    const values = (n: number, f: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => f(i));
    const tensors: SafetensorsTensorData[] = [
      { name: "u8", dtype: "U8", shape: [3, 5], data: values(15, (i) => (i * 7) % 256) },
      { name: "f16", dtype: "F16", shape: [4, 3], data: values(12, (i) => i / 8 - 0.7) },
      { name: "bf16", dtype: "BF16", shape: [2, 3, 4], data: values(24, (i) => (i - 11) * 1.5) },
      { name: "f32", dtype: "F32", shape: [2, 3, 4, 5], data: values(120, (i) => Math.sin(i)) },
      { name: "f64", dtype: "F64", shape: [5, 2], data: values(10, (i) => i * 1e-3) },
      { name: "i64.a", dtype: "I64", shape: [3], data: values(3, (i) => i - 1) },
      { name: "i64.b", dtype: "I64", shape: [4], data: values(4, (i) => 100 + i) },
    ];
    const bin = PytorchBinCheckpoint.open(
      ...checkpointPath(writePytorchBin(join(tempDir(), "pytorch_model.bin"), tensors, { views: true })),
    );
    const dir = tempDir();
    writeSafetensors(join(dir, "model.safetensors"), tensors);
    const safetensors = SafetensorsCheckpoint.open(...checkpointPath(dir));
    try {
      for (const { name } of tensors) expect(bin.float32(name), name).toEqual(safetensors.float32(name));
    } finally {
      bin.close();
      safetensors.close();
    }
  });

  it("hands stored contiguous F32 tensors to the writer as file ranges, views and deflated ones as converted bytes", () => {
    const plain = PytorchBinCheckpoint.open(...checkpointPath(writePytorchBin(join(tempDir(), "pytorch_model.bin"), BERT.tensors)));
    const views = PytorchBinCheckpoint.open(
      ...checkpointPath(writePytorchBin(join(tempDir(), "pytorch_model.bin"), BERT.tensors, { views: true })),
    );
    const deflated = PytorchBinCheckpoint.open(
      ...checkpointPath(writePytorchBin(join(tempDir(), "pytorch_model.bin"), BERT.tensors, { compress: true })),
    );
    try {
      for (const t of BERT.tensors) {
        const expected = new Uint8Array((t.data as Float32Array).buffer.slice(0));
        const range = plain.float32Bytes(t.name);
        expect(range.kind, t.name).toBe("file");
        if (range.kind !== "file") continue;
        expect(range.offset % 4).toBe(0); // torch aligns entries to 64 bytes
        expect(readInitializerBytes(range)).toEqual(expected);
        const view = views.float32Bytes(t.name);
        expect(view.kind).toBe(t.shape.length >= 2 ? "lazy" : view.kind);
        if (view.kind === "lazy") expect(view.read()).toEqual(expected);
        expect(deflated.float32Bytes(t.name).kind).toBe("lazy");
      }
    } finally {
      for (const store of [plain, views, deflated]) store.close();
    }
  });

  for (const dtype of ["F16", "BF16"] as const) {
    it(`${dtype} checkpoints widen exactly as the same safetensors checkpoint does`, () => {
      const model = syntheticBert({ seed: 22, dtype });
      const bin = PytorchBinCheckpoint.open(...checkpointPath(modelFolder(model, { pytorchBin: {} })));
      const safetensors = SafetensorsCheckpoint.open(...checkpointPath(modelFolder(model)));
      try {
        for (const name of safetensors.names()) {
          expect(bin.info(name)).toEqual(safetensors.info(name));
          expect(bin.float32(name), name).toEqual(safetensors.float32(name));
        }
        expect(bin.float32Bytes("pooler.dense.weight").kind).toBe("lazy");
      } finally {
        bin.close();
        safetensors.close();
      }
    });
  }

  it("opens a sharded checkpoint through pytorch_model.bin.index.json", () => {
    const dir = modelFolder(BERT, { pytorchBin: {}, shardBytes: 40_000 });
    expect(existsSync(join(dir, "pytorch_model.bin.index.json"))).toBe(true);
    expect(existsSync(join(dir, "pytorch_model-00002-of-00004.bin"))).toBe(true);
    const store = openCheckpoint(folderFiles(dir));
    try {
      expect(store).toBeInstanceOf(PytorchBinCheckpoint);
      expectSameTensors(store, BERT.tensors);
    } finally {
      store.close();
    }
  });

  it("a sharded index whose shard lacks a listed tensor is an error naming both", () => {
    const dir = modelFolder(BERT, { pytorchBin: {}, shardBytes: 40_000 });
    const indexPath = join(dir, "pytorch_model.bin.index.json");
    const index = JSON.parse(readFileSync(indexPath, "utf8"));
    index.weight_map["pooler.dense.weight"] = "pytorch_model-00001-of-00004.bin";
    writeFileSync(indexPath, JSON.stringify(index));
    const error = weightError(() => PytorchBinCheckpoint.open(...checkpointPath(dir)));
    expect(error.message).toContain("pooler.dense.weight");
    expect(error.message).toContain("pytorch_model-00001-of-00004.bin");
  });

  it("reports folders without weights and paths that do not exist, as safetensors does", () => {
    const dir = tempDir();
    const empty = weightError(() => PytorchBinCheckpoint.open(...checkpointPath(dir))).message;
    expect(empty).toContain(dir);
    expect(empty).toContain("pytorch_model.bin.index.json");
    expect(weightError(() => PytorchBinCheckpoint.open(...checkpointPath(join(dir, "nope")))).message).toContain(
      "nope: no such file or folder",
    );
  });

  it("openCheckpoint prefers safetensors when a folder has both", () => {
    const dir = modelFolder(BERT);
    writePytorchBin(join(dir, "pytorch_model.bin"), BERT.tensors);
    const store = openCheckpoint(folderFiles(dir));
    store.close();
    expect(store).toBeInstanceOf(SafetensorsCheckpoint);
  });

  it("graphs of .bin-loaded encoders match the reference (views, float16)", async () => {
    for (const [model, pytorchBin] of [
      [syntheticBert({ seed: 23 }), { views: true }],
      [syntheticBert({ seed: 24, dtype: "F16" }), { protocol: 4 }],
    ] as const) {
      const encoder = syntheticEncoder(model, { pytorchBin });
      const batches = [randomBatch(encoder.config, { batch: 3, sequence: 9 })];
      for (const variant of ["primary", "portable"] as const) await expectGraphMatchesReference(encoder, batches, { variant });
    }
  });

  it("EmbeddingService exports a folder that has only pytorch_model.bin, and the graph verifies", async () => {
    const dir = modelFolder(BERT, { pytorchBin: {} });
    expect(existsSync(join(dir, "model.safetensors"))).toBe(false);
    const out = tempDir();
    const path = await new EmbeddingService(dir, { logger: silentLogger }).exportOnnxModel(out, { quantized: false });
    expect(path).toBe(join(out, "model_fp32.onnx"));
    const model = await readModel(path);
    expect(model.graph.outputs.map((o) => o.name)).toEqual(["last_hidden_state", "pooler_output"]);
  });
});

// ---------------------------------------------------------------------------------------------
// Hostile pickles

const enc = new TextEncoder();
const unicode = (text: string) => [0x58, ...u32(enc.encode(text).length), ...enc.encode(text)]; // BINUNICODE
const global = (module: string, name: string) => [0x63, ...enc.encode(`${module}\n${name}\n`)]; // GLOBAL
const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const PROTO2 = [0x80, 0x02];
const STOP = 0x2e;

/** A real torch.save zip whose data.pkl is `pickle`. */
function checkpointWithPickle(pickle: readonly number[] | Uint8Array, extra: Array<readonly [string, Uint8Array]> = []): string {
  const path = join(tempDir(), "pytorch_model.bin");
  writeFileSync(path, encodeTorchZip([["archive/data.pkl", Uint8Array.from(pickle)], ["archive/version", enc.encode("3\n")], ...extra]));
  return path;
}

describe("restricted unpickler: malicious pickles are refused, never executed", () => {
  const witness = join(tempDir(), "executed");
  const command = `touch ${witness}`;
  const cases: Array<[string, number[], string]> = [
    ["os.system via GLOBAL + REDUCE", [...PROTO2, ...global("os", "system"), ...unicode(command), 0x85, 0x52, STOP], '"os.system"'],
    ["posix.system", [...PROTO2, ...global("posix", "system"), ...unicode(command), 0x85, 0x52, STOP], '"posix.system"'],
    [
      "builtins.eval",
      [...PROTO2, ...global("builtins", "eval"), ...unicode(`__import__('os').system('${command}')`), 0x85, 0x52, STOP],
      '"builtins.eval"',
    ],
    [
      "__builtin__.exec (Python 2 name)",
      [...PROTO2, ...global("__builtin__", "exec"), ...unicode("import os"), 0x85, 0x52, STOP],
      '"__builtin__.exec"',
    ],
    [
      "STACK_GLOBAL subprocess.Popen",
      [0x80, 0x04, 0x8c, 10, ...enc.encode("subprocess"), 0x8c, 5, ...enc.encode("Popen"), 0x93, ...unicode(command), 0x85, 0x52, STOP],
      '"subprocess.Popen"',
    ],
    ["a torch global outside the allow-list", [...PROTO2, ...global("torch", "load"), ...unicode("x"), 0x85, 0x52, STOP], '"torch.load"'],
    ["TorchScript class", [...PROTO2, ...global("__torch__", "Model"), 0x29, 0x52, STOP], '"__torch__.Model"'],
    ["INST", [...PROTO2, 0x28, ...unicode(command), 0x69, ...enc.encode("os\nsystem\n"), STOP], "INST"],
    ["OBJ on an allowed class", [...PROTO2, 0x28, ...global("collections", "OrderedDict"), 0x6f, STOP], "OBJ"],
    ["NEWOBJ", [...PROTO2, ...global("collections", "OrderedDict"), 0x29, 0x81, STOP], "NEWOBJ"],
    ["EXT1", [...PROTO2, 0x82, 0x01, STOP], "EXT1"],
    ["REDUCE on an allowed global that is not callable", [...PROTO2, ...global("torch", "FloatStorage"), 0x29, 0x52, STOP], "not callable"],
    ["BUILD on a global", [...PROTO2, ...global("torch._utils", "_rebuild_tensor_v2"), 0x7d, 0x62, STOP], "BUILD"],
    ["a text-mode opcode", [0x49, ...enc.encode("1\n"), STOP], "INT"],
    ["an unknown opcode", [...PROTO2, 0xff, STOP], "unknown pickle opcode 0xff"],
  ];
  for (const [name, pickle, fragment] of cases) {
    it(name, () => {
      const path = checkpointWithPickle(pickle);
      const error = weightError(() => PytorchBinCheckpoint.open(...checkpointPath(path)));
      expect(error.message).toContain(path);
      expect(error.message).toContain("refusing");
      expect(error.message).toContain(fragment);
      expect(error.message).toContain("nothing in the file was executed");
      expect(error.message).toContain("safetensors");
      expect(existsSync(witness)).toBe(false);
    });
  }

  it("builds plain values exactly as CPython pickles them (protocol 4 golden)", () => {
    // pickle.dumps({'a': [1, -2, 3.5, True, None, 'x', b'yz', (1, 2), 70000, 2**40, -2**40]}, protocol=4)
    const golden = Uint8Array.from([
      0x80, 0x04, 0x95, 0x42, 0, 0, 0, 0, 0, 0, 0, 0x7d, 0x94, 0x8c, 0x01, 0x61, 0x94, 0x5d, 0x94, 0x28, 0x4b, 0x01, 0x4a, 0xfe, 0xff, 0xff,
      0xff, 0x47, 0x40, 0x0c, 0, 0, 0, 0, 0, 0, 0x88, 0x4e, 0x8c, 0x01, 0x78, 0x94, 0x43, 0x02, 0x79, 0x7a, 0x94, 0x4b, 0x01, 0x4b, 0x02,
      0x86, 0x94, 0x4a, 0x70, 0x11, 0x01, 0x00, 0x8a, 0x06, 0, 0, 0, 0, 0, 0x01, 0x8a, 0x06, 0, 0, 0, 0, 0, 0xff, 0x65, 0x73, 0x2e,
    ]);
    const value = unpickle(golden, { label: "golden", findGlobal: () => undefined, allowedSummary: "none", advice: "n/a" });
    expect(value).toEqual(
      new Map([["a", [1, -2, 3.5, true, null, "x", Uint8Array.of(0x79, 0x7a), new PickleTuple([1, 2]), 70000, 2 ** 40, -(2 ** 40)]]]),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Hostile containers

describe("hostile containers", () => {
  it("a legacy (torch < 1.6) checkpoint is refused with advice", () => {
    const path = join(tempDir(), "pytorch_model.bin");
    // The legacy format starts with a pickled magic number (LONG1 0x1950a86a20f9469cfc6c).
    writeFileSync(path, Uint8Array.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]));
    const error = weightError(() => openCheckpoint(folderFiles(join(path, ".."))));
    expect(error.message).toContain("legacy PyTorch checkpoint");
    expect(error.message).toContain("safetensors");
  });

  it("a zip without data.pkl (e.g. a TorchScript archive) is not a checkpoint", () => {
    const path = join(tempDir(), "pytorch_model.bin");
    writeFileSync(
      path,
      encodeTorchZip([
        ["archive/constants.pkl", Uint8Array.of(0x80, 0x02, 0x4e, 0x2e)],
        ["archive/code/__torch__.py", enc.encode("x")],
      ]),
    );
    expect(weightError(() => PytorchBinCheckpoint.open(...checkpointPath(path))).message).toContain("data.pkl");
  });

  it("a storage shorter than its tensor, and a big-endian checkpoint, are refused", () => {
    const bytes = encodeTorchCheckpoint([{ name: "w", dtype: "F32", shape: [4], data: Float32Array.of(1, 2, 3, 4) }]);
    const source = memoryFile(bytes, "ok.bin");
    const pickle = readPickle(bytes);
    const short = checkpointWithPickle(pickle, [["archive/data/0", new Uint8Array(12)]]);
    expect(weightError(() => PytorchBinCheckpoint.open(...checkpointPath(short))).message).toContain("holds 12 bytes");
    const bigEndian = checkpointWithPickle(pickle, [
      ["archive/data/0", new Uint8Array(16)],
      ["archive/byteorder", enc.encode("big")],
    ]);
    expect(weightError(() => PytorchBinCheckpoint.open(...checkpointPath(bigEndian))).message).toContain("little-endian");
    expect(parseTorchArchive(source).get("w")?.shape).toEqual([4]);
  });

  it("a broadcast (stride 0) view larger than its storage is refused before anything is allocated", () => {
    // _rebuild_tensor_v2(('storage', FloatStorage, '0', 'cpu', 1), 0, (2**30,), (0,), False, OrderedDict())
    const pickle = [
      ...PROTO2,
      ...global("collections", "OrderedDict"),
      0x29,
      0x52,
      ...unicode("w"),
      ...global("torch._utils", "_rebuild_tensor_v2"),
      0x28,
      0x28,
      ...unicode("storage"),
      ...global("torch", "FloatStorage"),
      ...unicode("0"),
      ...unicode("cpu"),
      0x4b,
      1,
      0x74,
      0x51,
      0x4b,
      0,
      0x4a,
      ...u32(2 ** 30),
      0x85,
      0x4b,
      0,
      0x85,
      0x89,
      ...global("collections", "OrderedDict"),
      0x29,
      0x52,
      0x74,
      0x52,
      0x73,
      STOP,
    ];
    const path = checkpointWithPickle(pickle, [["archive/data/0", new Uint8Array(4)]]);
    expect(weightError(() => PytorchBinCheckpoint.open(...checkpointPath(path))).message).toContain("overlapping strides");
  });

  /** Parses and reads every tensor; only a WeightError may stop it. */
  function parseAndRead(bytes: Uint8Array): void {
    const source = memoryFile(bytes, "fuzzed.bin");
    try {
      for (const tensor of parseTorchArchive(source).values()) readTensorBytes(source, tensor);
    } catch (error) {
      if (!(error instanceof WeightError)) throw new Error(`non-WeightError escaped: ${String(error)}`);
      expect(error.message).toContain("fuzzed.bin");
      expect(error.message).not.toMatch(/[\r\n]/);
    }
  }

  const small = syntheticBert({ seed: 25, layers: 1, hidden: 8, heads: 2, intermediate: 8, vocab: 20, maxPositions: 8 }).tensors;
  const valid: Uint8Array[] = [{}, { zip64: true }, { compress: true }, { protocol: 4, frameBytes: 64 }, { views: true }].map((options) =>
    encodeTorchCheckpoint(small, options as TorchSaveOptions),
  );

  it("random bytes", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => parseAndRead(bytes)));
  });

  it("valid checkpoints with bytes overwritten, truncated or cut short", () => {
    const damage = fc.record({
      which: fc.integer({ min: 0, max: valid.length - 1 }),
      writes: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      keep: fc.option(fc.nat()),
    });
    fc.assert(
      fc.property(damage, ({ which, writes, keep }) => {
        const bytes = valid[which]!.slice();
        for (const [at, value] of writes) bytes[at % bytes.length] = value;
        parseAndRead(keep === null ? bytes : bytes.subarray(0, keep % bytes.length));
      }),
      { numRuns: 300 },
    );
  });

  it("random pickles inside a valid container", () => {
    // Opcodes a state dict uses, plus a few others, in random order with random arguments.
    const opcode = fc.oneof(
      fc.constantFrom(
        0x28,
        0x2e,
        0x29,
        0x5d,
        0x7d,
        0x4e,
        0x85,
        0x86,
        0x87,
        0x88,
        0x89,
        0x52,
        0x51,
        0x62,
        0x73,
        0x75,
        0x61,
        0x65,
        0x74,
        0x94,
        0x93,
        0x30,
        0x31,
        0x32,
      ),
      fc.tuple(fc.constantFrom(0x4b, 0x71, 0x68, 0x8a), fc.integer({ min: 0, max: 255 })).map(([op, arg]) => [op, arg]),
      fc.constantFrom(
        global("collections", "OrderedDict"),
        global("torch._utils", "_rebuild_tensor_v2"),
        global("torch", "FloatStorage"),
        unicode("storage"),
        unicode("0"),
        unicode("cpu"),
      ),
    );
    fc.assert(
      fc.property(fc.array(opcode, { maxLength: 60 }), (ops) => {
        const pickle = Uint8Array.from([...PROTO2, ...ops.flat(), STOP]);
        parseAndRead(
          encodeTorchZip([
            ["archive/data.pkl", pickle],
            ["archive/data/0", new Uint8Array(16)],
          ]),
        );
      }),
      { numRuns: 300 },
    );
  });
});

function readPickle(checkpoint: Uint8Array): Uint8Array {
  const source = memoryFile(checkpoint, "checkpoint");
  return readZipEntry(source, readZipDirectory(source).get("archive/data.pkl")!).slice();
}
