// IR -> ONNX protobuf. Writing is streamed: the non-tensor parts go through protobufjs, but
// initializer payloads are copied into the output one at a time, so a multi-gigabyte model never
// sits in memory. Protobuf lets fields come in any order, so a graph is written as its
// non-initializer fields followed by each initializer as field 5, and the model as its other
// fields followed by the graph as field 7; every length is known up front from the tensor sizes.
// (Reading is src/graph/onnx-reader.ts.)
// Nothing here touches a file system: files are written through a ByteSink (src/common/files.ts);
// writing .onnx files on disk is src/graph/onnx-file.ts.
import type { ByteSink, ByteSource } from "../common/files.js";
import { errorMessage } from "../common/messages.js";
import {
  type Attribute,
  BYTES_PER_ELEMENT,
  type Dim,
  type Graph,
  type Initializer,
  type Model,
  type Node,
  type ValueInfo,
  byteLength,
  elementCount,
} from "./ir.js";
import {
  type AttributeProto,
  AttributeType,
  DataLocation,
  type DimensionProto,
  FIELD,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
  onnx,
} from "./onnx-proto.js";
import { readTensorBytes } from "./tensor-bytes.js";

export type ExternalDataMode = "auto" | "always" | "never";

export interface WriteModelOptions {
  /**
   * "auto" (default): tensors go to `<file>.data` only when the initializers exceed what one
   * protobuf file can hold; "always": always; "never": everything inline.
   */
  externalData?: ExternalDataMode;
  /** Tensors smaller than this many bytes stay inline even with external data (default 1024). */
  externalDataThreshold?: number;
  /** Stops a write between tensors (a multi-gigabyte write is not waited for) with the signal's reason. */
  signal?: AbortSignal;
}

const PROTOBUF_MAX_BYTES = 2 ** 31 - 1;
/** "auto" switches to external data above this much initializer data, leaving room for the graph. */
export const AUTO_EXTERNAL_DATA_BYTES = Math.floor(1.8 * 2 ** 30);
const DEFAULT_EXTERNAL_DATA_THRESHOLD = 1024;
/** Size of the one reusable write/copy buffer per output file. */
const CHUNK_BYTES = 4 * 2 ** 20;
/**
 * External-data offsets: onnxruntime memory-maps external initializers only when the offset is
 * page aligned, and its own saver page-aligns (4096) tensors above 1 MiB; smaller tensors are
 * aligned to 64 bytes (a cache line / widest SIMD load) so padding stays negligible.
 */
const PAGE_ALIGNMENT = 4096;
const PAGE_ALIGN_FROM_BYTES = 2 ** 20;
const SMALL_ALIGNMENT = 64;

// ---------------------------------------------------------------------------------------------
// Public API

/** Encodes the whole model in memory (small models and tests); same bytes as writeModel "never". */
export function encodeModel(model: Model): Uint8Array {
  const plan = planModel(model, undefined);
  checkProtobufLimit(plan.model.length);
  return materialize(plan.model);
}

/**
 * A model laid out for streaming: the .onnx file's bytes and, when the initializers need one, the
 * external data file's, each written to a ByteSink by `writeModelFile` / `writeExternalData`.
 */
export class PlannedModel {
  /** Size of the .onnx file. */
  readonly modelBytes: number;
  /** Size of the external data file; undefined when every tensor is inline. */
  readonly externalDataBytes: number | undefined;
  readonly #plan: ModelPlan;

  /**
   * Plans `model`; with external data its tensors refer to `externalDataName` (the data file's
   * name, beside the model). Throws when the model cannot be one protobuf file.
   */
  constructor(model: Model, externalDataName: string, options: WriteModelOptions = {}) {
    const mode = options.externalData ?? "auto";
    const external = externalDataNeeded(totalInitializerBytes(model.graph), mode)
      ? { location: externalDataName, threshold: options.externalDataThreshold ?? DEFAULT_EXTERNAL_DATA_THRESHOLD }
      : undefined;
    this.#plan = planModel(model, external);
    checkProtobufLimit(this.#plan.model.length);
    this.modelBytes = this.#plan.model.length;
    this.externalDataBytes = this.#plan.externalData?.length;
  }

  /** Streams the .onnx file into `sink`. */
  writeModelFile(sink: ByteSink, signal?: AbortSignal): Promise<void> {
    return writePlan(this.#plan.model, sink, signal);
  }

  /** Streams the external data file into `sink` (nothing without external data). */
  async writeExternalData(sink: ByteSink, signal?: AbortSignal): Promise<void> {
    if (this.#plan.externalData) await writePlan(this.#plan.externalData, sink, signal);
  }
}

/** Whether "auto"/"always"/"never" puts tensors into an external data file for this much data. */
export function externalDataNeeded(totalInitializerBytes: number, mode: ExternalDataMode): boolean {
  if (mode === "always") return true;
  if (mode === "never") return false;
  return totalInitializerBytes > AUTO_EXTERNAL_DATA_BYTES;
}

// ---------------------------------------------------------------------------------------------
// IR -> protobuf objects (everything except initializer payloads)

function modelHeaderProto(model: Model): ModelProto {
  return {
    ir_version: model.irVersion,
    producer_name: model.producerName,
    producer_version: model.producerVersion,
    opset_import: model.opsetImports.map((o) => ({ domain: o.domain, version: o.version })),
    metadata_props: Object.entries(model.metadata).map(([key, value]) => ({ key, value })),
  };
}

function graphHeaderProto(graph: Graph): GraphProto {
  return {
    node: graph.nodes.map(nodeToProto),
    name: graph.name,
    input: graph.inputs.map(valueInfoToProto),
    output: graph.outputs.map(valueInfoToProto),
    value_info: graph.valueInfo.map(valueInfoToProto),
  };
}

function nodeToProto(node: Node): NodeProto {
  return {
    input: node.inputs,
    output: node.outputs,
    name: node.name,
    op_type: node.opType,
    domain: node.domain,
    attribute: Object.entries(node.attributes).map(([name, a]) => attributeToProto(name, a, node)),
  };
}

const utf8 = { encode: (s: string) => new TextEncoder().encode(s) };

function attributeToProto(name: string, a: Attribute, node: Node): AttributeProto {
  const where = `attribute "${name}" of node "${node.name}" (${node.opType})`;
  switch (a.kind) {
    case "float":
      return { name, type: AttributeType.FLOAT, f: a.value };
    case "int":
      return { name, type: AttributeType.INT, i: checkInt(a.value, where) };
    case "string":
      return { name, type: AttributeType.STRING, s: utf8.encode(a.value) };
    case "tensor":
      return { name, type: AttributeType.TENSOR, t: inlineTensorProto(a.value) };
    case "floats":
      return { name, type: AttributeType.FLOATS, floats: a.value };
    case "ints":
      return { name, type: AttributeType.INTS, ints: a.value.map((v) => checkInt(v, where)) };
    case "strings":
      return { name, type: AttributeType.STRINGS, strings: a.value.map((s) => utf8.encode(s)) };
  }
}

/** int64 attributes travel as JS numbers; beyond 2^53 they would silently lose digits. */
function checkInt(value: number, where: string): number {
  if (!Number.isSafeInteger(value)) throw new Error(`${where}: ${value} is not an integer within ±2^53`);
  return value;
}

function valueInfoToProto(info: ValueInfo): ValueInfoProto {
  const shape = info.shape === undefined ? undefined : { dim: info.shape.map(dimToProto) };
  return { name: info.name, type: { tensor_type: { elem_type: info.elemType, ...(shape ? { shape } : {}) } } };
}

/** "" stands for a dimension that is neither fixed nor named. */
function dimToProto(dim: Dim): DimensionProto {
  if (typeof dim === "number") return { dim_value: dim };
  return dim === "" ? {} : { dim_param: dim };
}

function tensorHeaderProto(init: Initializer): TensorProto {
  return { dims: init.dims, data_type: init.dataType, name: init.name };
}

/** Attribute tensors are small constants: always inline, built in memory. */
function inlineTensorProto(init: Initializer): TensorProto {
  checkInitializer(init);
  return { ...tensorHeaderProto(init), raw_data: readCheckedTensorBytes(init) };
}

function externalTensorProto(init: Initializer, location: string, offset: number): TensorProto {
  return {
    ...tensorHeaderProto(init),
    data_location: DataLocation.EXTERNAL,
    external_data: [
      { key: "location", value: location },
      { key: "offset", value: String(offset) },
      { key: "length", value: String(byteLength(init.data)) },
    ],
  };
}

function checkInitializer(init: Initializer): void {
  const where = `initializer "${init.name}"`;
  for (const d of init.dims) {
    if (!Number.isSafeInteger(d) || d < 0) throw new Error(`${where}: invalid dimension ${d} in [${init.dims}]`);
  }
  const elementBytes = BYTES_PER_ELEMENT[init.dataType];
  if (elementBytes === undefined) throw new Error(`${where}: data type ${init.dataType} cannot be stored as raw data`);
  const expected = elementCount(init.dims) * elementBytes;
  const actual = byteLength(init.data);
  if (actual !== expected) {
    throw new Error(`${where}: has ${actual} bytes but dims [${init.dims}] of type ${init.dataType} need ${expected}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Write plan: the exact byte sequence of each output file, with tensor payloads left as sources.

type Piece = { kind: "bytes"; bytes: Uint8Array } | { kind: "zeros"; length: number } | { kind: "tensor"; initializer: Initializer };

interface FilePlan {
  pieces: Piece[];
  length: number;
}

interface ModelPlan {
  model: FilePlan;
  /** Present when at least one tensor went to the external data file. */
  externalData?: FilePlan;
}

interface ExternalDataTarget {
  /** File name written into the model, relative to the model's folder. */
  location: string;
  threshold: number;
}

function emptyPlan(): FilePlan {
  return { pieces: [], length: 0 };
}

function appendBytes(plan: FilePlan, bytes: Uint8Array): void {
  plan.pieces.push({ kind: "bytes", bytes });
  plan.length += bytes.byteLength;
}

function appendZeros(plan: FilePlan, length: number): void {
  if (length === 0) return;
  plan.pieces.push({ kind: "zeros", length });
  plan.length += length;
}

function appendTensor(plan: FilePlan, initializer: Initializer): void {
  plan.pieces.push({ kind: "tensor", initializer });
  plan.length += byteLength(initializer.data);
}

function appendPlan(plan: FilePlan, other: FilePlan): void {
  plan.pieces.push(...other.pieces);
  plan.length += other.length;
}

function planModel(model: Model, external: ExternalDataTarget | undefined): ModelPlan {
  const data = emptyPlan();
  const graph = emptyPlan();
  appendBytes(graph, onnx.GraphProto.encode(graphHeaderProto(model.graph)));
  for (const init of model.graph.initializers) {
    checkInitializer(init);
    if (external && goesExternal(init, external.threshold)) appendExternalInitializer(graph, data, init, external);
    else appendInlineInitializer(graph, init);
  }
  const file = emptyPlan();
  appendBytes(file, onnx.ModelProto.encode(modelHeaderProto(model)));
  appendBytes(file, lengthDelimitedKey(FIELD.MODEL_GRAPH, graph.length));
  appendPlan(file, graph);
  return data.pieces.length > 0 ? { model: file, externalData: data } : { model: file };
}

/** Empty tensors stay inline: an external entry of length 0 buys nothing. */
function goesExternal(init: Initializer, threshold: number): boolean {
  const length = byteLength(init.data);
  return length > 0 && length >= threshold;
}

/** GraphProto.initializer entry: TensorProto header + raw_data whose bytes are streamed. */
function appendInlineInitializer(graph: FilePlan, init: Initializer): void {
  const header = onnx.TensorProto.encode(tensorHeaderProto(init));
  const payloadLength = byteLength(init.data);
  const rawDataKey = lengthDelimitedKey(FIELD.TENSOR_RAW_DATA, payloadLength);
  appendBytes(graph, lengthDelimitedKey(FIELD.GRAPH_INITIALIZER, header.length + rawDataKey.length + payloadLength));
  appendBytes(graph, header);
  appendBytes(graph, rawDataKey);
  appendTensor(graph, init);
}

function appendExternalInitializer(graph: FilePlan, data: FilePlan, init: Initializer, external: ExternalDataTarget): void {
  const length = byteLength(init.data);
  const alignment = length >= PAGE_ALIGN_FROM_BYTES ? PAGE_ALIGNMENT : SMALL_ALIGNMENT;
  appendZeros(data, (alignment - (data.length % alignment)) % alignment);
  const offset = data.length;
  appendTensor(data, init);
  const message = onnx.TensorProto.encode(externalTensorProto(init, external.location, offset));
  appendBytes(graph, lengthDelimitedKey(FIELD.GRAPH_INITIALIZER, message.length));
  appendBytes(graph, message);
}

function totalInitializerBytes(graph: Graph): number {
  return graph.initializers.reduce((sum, init) => sum + byteLength(init.data), 0);
}

function checkProtobufLimit(modelBytes: number): void {
  if (modelBytes > PROTOBUF_MAX_BYTES) {
    throw new Error(
      `the model would be ${modelBytes} bytes, over protobuf's 2 GiB limit; ` + `write it with externalData "auto" or "always"`,
    );
  }
}

// Protobuf wire format for the hand-written parts: a field key with wire type 2 (length-delimited)
// followed by the varint length.
function lengthDelimitedKey(field: number, length: number): Uint8Array {
  return Uint8Array.from([...varint(field * 8 + 2), ...varint(length)]);
}

/** Base-128 varint of a non-negative safe integer (arithmetic, not bit ops: lengths pass 2^31). */
function varint(value: number): number[] {
  const out: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Executing a plan: in memory, or streamed to a file

function materialize(plan: FilePlan): Uint8Array {
  const out = new Uint8Array(plan.length);
  let at = 0;
  for (const piece of plan.pieces) {
    if (piece.kind === "bytes") out.set(piece.bytes, at);
    else if (piece.kind === "tensor") out.set(readCheckedTensorBytes(piece.initializer), at);
    at += pieceLength(piece); // zeros: already zero
  }
  return out;
}

function pieceLength(piece: Piece): number {
  if (piece.kind === "bytes") return piece.bytes.byteLength;
  if (piece.kind === "zeros") return piece.length;
  return byteLength(piece.initializer.data);
}

async function writePlan(plan: FilePlan, sink: ByteSink, signal: AbortSignal | undefined): Promise<void> {
  const writer = new ChunkedFileWriter(sink);
  for (const piece of plan.pieces) {
    signal?.throwIfAborted(); // a multi-gigabyte write stops between tensors
    await writePiece(writer, piece);
  }
  await writer.finish();
  if (writer.written !== plan.length) {
    throw new Error(`internal error: wrote ${writer.written} bytes, planned ${plan.length}`);
  }
}

async function writePiece(writer: ChunkedFileWriter, piece: Piece): Promise<void> {
  if (piece.kind === "bytes") return writer.write(piece.bytes);
  if (piece.kind === "zeros") return writer.writeZeros(piece.length);
  const init = piece.initializer;
  const data = init.data;
  if (data.kind === "file") return writer.copyFrom(data.source, data.offset, data.length, init.name, data.check);
  if (data.kind === "lazy" && data.fill) return writer.fillWith(data.length, data.fill);
  // bytes, or lazy: read() runs exactly once, here, and the result is dropped when we return.
  return writer.write(readCheckedTensorBytes(init));
}

/** Tensor bytes, checked against the size the plan reserved for them. */
function readCheckedTensorBytes(init: Initializer): Uint8Array {
  const bytes = readTensorBytes(init.data);
  const expected = byteLength(init.data);
  if (bytes.byteLength !== expected) {
    throw new Error(`initializer "${init.name}": its source produced ${bytes.byteLength} bytes, expected ${expected}`);
  }
  return bytes;
}

/** Where a buffered write's bytes live until the file system has them (reused after that). */
type WriteSlot = "buffer0" | "buffer1" | "scratch0" | "scratch1" | "direct";

/**
 * Sequential output through two alternating buffers: while the file system writes one (a
 * positional write, in libuv's thread pool), the next is filled — converting tensors and
 * writing them to disk overlap. A buffer is refilled only once its write has completed, and
 * at most one write per buffer is in flight, so memory stays at two buffers (plus two scratch
 * buffers for lazily filled tensors larger than a buffer).
 */
class ChunkedFileWriter {
  private readonly buffers = [new Uint8Array(CHUNK_BYTES), new Uint8Array(CHUNK_BYTES)];
  private readonly scratch = [new Uint8Array(0), new Uint8Array(0)];
  private readonly inFlight = new Map<WriteSlot, Promise<void>>();
  private active = 0;
  private nextScratch = 0;
  private used = 0;
  /** File offset of the next write handed to the file system. */
  private position = 0;
  /** Bytes handed to the writer so far (submitted or buffered). */
  written = 0;

  constructor(private readonly sink: ByteSink) {}

  /** Bytes the caller will not touch again (fresh tensor bytes, plan pieces). */
  async write(bytes: Uint8Array): Promise<void> {
    if (bytes.byteLength >= CHUNK_BYTES) {
      await this.flush();
      await this.settle("direct");
      this.submit("direct", bytes);
    } else {
      if (this.used + bytes.byteLength > CHUNK_BYTES) await this.flush();
      this.buffers[this.active]!.set(bytes, this.used);
      this.used += bytes.byteLength;
    }
    this.written += bytes.byteLength;
  }

  /** Lets `fill` write `length` bytes straight into a write buffer (or a reused scratch). */
  async fillWith(length: number, fill: (target: Uint8Array) => void): Promise<void> {
    if (length > CHUNK_BYTES) {
      await this.flush();
      const index = this.nextScratch;
      this.nextScratch ^= 1;
      const slot: WriteSlot = index === 0 ? "scratch0" : "scratch1";
      await this.settle(slot);
      if (this.scratch[index]!.byteLength < length) this.scratch[index] = new Uint8Array(length);
      const target = this.scratch[index]!.subarray(0, length);
      fill(target);
      this.submit(slot, target);
      this.written += length;
      return;
    }
    if (this.used + length > CHUNK_BYTES) await this.flush();
    fill(this.buffers[this.active]!.subarray(this.used, this.used + length));
    this.used += length;
    this.written += length;
  }

  async writeZeros(length: number): Promise<void> {
    for (let left = length; left > 0;) {
      if (this.used === CHUNK_BYTES) await this.flush();
      const n = Math.min(left, CHUNK_BYTES - this.used);
      this.buffers[this.active]!.fill(0, this.used, this.used + n);
      this.used += n;
      left -= n;
    }
    this.written += length;
  }

  /**
   * Copies a byte range of another file, reading straight into the write buffers, in pieces of
   * whole 4-byte elements that `check` sees before they are written.
   */
  async copyFrom(
    source: ByteSource,
    offset: number,
    length: number,
    tensorName: string,
    check?: (bytes: Uint8Array, fileOffset: number) => void,
  ): Promise<void> {
    for (let done = 0; done < length;) {
      if (CHUNK_BYTES - this.used < 4) await this.flush();
      let want = Math.min(length - done, CHUNK_BYTES - this.used);
      if (want < length - done) want -= want % 4;
      const target = this.buffers[this.active]!.subarray(this.used, this.used + want);
      try {
        source.readInto(target, offset + done);
      } catch (error) {
        throw new Error(`initializer "${tensorName}": ${errorMessage(error)}`, { cause: error });
      }
      check?.(target, offset + done);
      this.used += want;
      done += want;
    }
    this.written += length;
  }

  /** Hands the active buffer to the file system and switches to the other one. */
  async flush(): Promise<void> {
    if (this.used === 0) return;
    this.submit(this.active === 0 ? "buffer0" : "buffer1", this.buffers[this.active]!.subarray(0, this.used));
    this.active ^= 1;
    this.used = 0;
    await this.settle(this.active === 0 ? "buffer0" : "buffer1");
  }

  /** Flushes and waits for every write: the file then holds everything written. */
  async finish(): Promise<void> {
    await this.flush();
    for (const slot of [...this.inFlight.keys()]) await this.settle(slot);
  }

  private submit(slot: WriteSlot, bytes: Uint8Array): void {
    const at = this.position;
    this.position += bytes.byteLength;
    const writing = this.sink.write(bytes, at);
    writing.catch(() => {}); // awaited by settle(); a failure surfaces there
    this.inFlight.set(slot, writing);
  }

  /** Waits until `slot`'s bytes are written (rethrowing a failed write). */
  private async settle(slot: WriteSlot): Promise<void> {
    const writing = this.inFlight.get(slot);
    if (!writing) return;
    this.inFlight.delete(slot);
    await writing;
  }
}
