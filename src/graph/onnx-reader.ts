// ONNX protobuf -> IR. Inline tensors stay views into the file's bytes; external data becomes
// file ranges. (Writing is src/graph/onnx-writer.ts; .onnx files on disk, src/graph/onnx-file.ts.)
import { type ModelFiles, fileSource } from "../common/files.js";
import {
  type Attribute,
  BYTES_PER_ELEMENT,
  DataType,
  type Dim,
  type Graph,
  type Initializer,
  type Model,
  type Node,
  type TensorBytes,
  type ValueInfo,
  elementCount,
} from "./ir.js";
import {
  type AttributeProto,
  AttributeType,
  DataLocation,
  type DimensionProto,
  type GraphProto,
  type Int64,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
  int64ToBigInt,
  int64ToNumber,
  onnx,
} from "./onnx-proto.js";
import { readTensorBytes } from "./tensor-bytes.js";

export interface DecodeModelOptions {
  /** The model's folder, which external-data locations name files of. */
  folder?: ModelFiles;
}

/**
 * Decodes ONNX bytes into the IR. Inline tensors become `bytes` views into `bytes` (no copy);
 * external data becomes `file` ranges of files in `folder`.
 */
export function decodeModel(bytes: Uint8Array, options: DecodeModelOptions = {}): Model {
  return modelFromProto(onnx.ModelProto.decode(bytes), options.folder);
}
// Typed copies of an initializer's elements (host byte order is little-endian on every platform
// Node supports, matching ONNX raw_data). Each checks the data type and returns aligned memory.
export const initializerToFloat32 = (init: Initializer): Float32Array => typedCopy(init, DataType.FLOAT, Float32Array);
export const initializerToFloat64 = (init: Initializer): Float64Array => typedCopy(init, DataType.DOUBLE, Float64Array);
export const initializerToInt64 = (init: Initializer): BigInt64Array => typedCopy(init, DataType.INT64, BigInt64Array);
export const initializerToInt32 = (init: Initializer): Int32Array => typedCopy(init, DataType.INT32, Int32Array);
export const initializerToInt8 = (init: Initializer): Int8Array => typedCopy(init, DataType.INT8, Int8Array);
export const initializerToUint8 = (init: Initializer): Uint8Array => typedCopy(init, DataType.UINT8, Uint8Array);

// ---------------------------------------------------------------------------------------------
// protobuf objects -> IR

function modelFromProto(m: ModelProto, folder: ModelFiles | undefined): Model {
  if (!m.graph) throw new Error("the ONNX model has no graph");
  return {
    irVersion: int64ToNumber(m.ir_version),
    opsetImports: (m.opset_import ?? []).map((o) => ({ domain: o.domain ?? "", version: int64ToNumber(o.version) })),
    producerName: m.producer_name ?? "",
    producerVersion: m.producer_version ?? "",
    metadata: Object.fromEntries((m.metadata_props ?? []).map((e) => [e.key ?? "", e.value ?? ""])),
    graph: graphFromProto(m.graph, folder),
  };
}

function graphFromProto(g: GraphProto, folder: ModelFiles | undefined): Graph {
  return {
    name: g.name ?? "",
    nodes: (g.node ?? []).map((n) => nodeFromProto(n, folder)),
    initializers: (g.initializer ?? []).map((t) => tensorFromProto(t, folder)),
    inputs: (g.input ?? []).map(valueInfoFromProto),
    outputs: (g.output ?? []).map(valueInfoFromProto),
    valueInfo: (g.value_info ?? []).map(valueInfoFromProto),
  };
}

function nodeFromProto(n: NodeProto, folder: ModelFiles | undefined): Node {
  const node: Node = {
    opType: n.op_type ?? "",
    domain: n.domain ?? "",
    name: n.name ?? "",
    inputs: [...(n.input ?? [])],
    outputs: [...(n.output ?? [])],
    attributes: {},
  };
  // fromEntries, not assignment: an attribute named "__proto__" must stay an ordinary key.
  node.attributes = Object.fromEntries((n.attribute ?? []).map((a) => [a.name ?? "", attributeFromProto(a, node, folder)]));
  return node;
}

function attributeFromProto(a: AttributeProto, node: Node, folder: ModelFiles | undefined): Attribute {
  switch (a.type) {
    case AttributeType.FLOAT:
      return { kind: "float", value: a.f ?? 0 };
    case AttributeType.INT:
      return { kind: "int", value: int64ToNumber(a.i) };
    case AttributeType.STRING:
      return { kind: "string", value: utf8.decode(a.s ?? new Uint8Array()) };
    case AttributeType.TENSOR:
      if (!a.t) break;
      return { kind: "tensor", value: tensorFromProto(a.t, folder) };
    case AttributeType.FLOATS:
      return { kind: "floats", value: [...(a.floats ?? [])] };
    case AttributeType.INTS:
      return { kind: "ints", value: (a.ints ?? []).map(int64ToNumber) };
    case AttributeType.STRINGS:
      return { kind: "strings", value: (a.strings ?? []).map((s) => utf8.decode(s)) };
  }
  throw new Error(`attribute "${a.name}" of node "${node.name}" (${node.opType}) has unsupported type ${a.type}`);
}

function valueInfoFromProto(v: ValueInfoProto): ValueInfo {
  const tensorType = v.type?.tensor_type;
  const info: ValueInfo = { name: v.name ?? "", elemType: (tensorType?.elem_type ?? 0) as DataType };
  if (tensorType?.shape) info.shape = (tensorType.shape.dim ?? []).map(dimFromProto);
  return info;
}

function dimFromProto(d: DimensionProto): Dim {
  if (has(d, "dim_value")) return int64ToNumber(d.dim_value);
  if (has(d, "dim_param")) return d.dim_param ?? "";
  return "";
}

function tensorFromProto(t: TensorProto, folder: ModelFiles | undefined): Initializer {
  const name = t.name ?? "";
  const dataType = (t.data_type ?? 0) as DataType;
  const dims = (t.dims ?? []).map(int64ToNumber);
  return { name, dataType, dims, data: tensorDataFromProto(t, name, dataType, dims, folder) };
}

function tensorDataFromProto(
  t: TensorProto,
  name: string,
  dataType: DataType,
  dims: number[],
  folder: ModelFiles | undefined,
): TensorBytes {
  if (t.data_location === DataLocation.EXTERNAL) return externalTensorData(t, name, dataType, dims, folder);
  if (has(t, "raw_data") && t.raw_data) return { kind: "bytes", bytes: plainView(t.raw_data) };
  return { kind: "bytes", bytes: typedFieldBytes(t, name, dataType, elementCount(dims)) };
}

function externalTensorData(t: TensorProto, name: string, dataType: DataType, dims: number[], folder: ModelFiles | undefined): TensorBytes {
  const entries = new Map((t.external_data ?? []).map((e) => [e.key ?? "", e.value ?? ""]));
  const location = entries.get("location");
  if (!location) throw new Error(`tensor "${name}" is marked external but has no location`);
  if (folder === undefined) {
    throw new Error(`tensor "${name}" keeps its data in "${location}": pass the model's folder to decodeModel`);
  }
  const offset = Number(entries.get("offset") ?? "0");
  const length = entries.has("length") ? Number(entries.get("length")) : externalLengthFallback(folder, location, offset, dataType, dims);
  return { kind: "file", source: fileSource(folder, location), offset, length };
}

/** Without a "length" entry the tensor runs from its offset for its element count (or to EOF). */
function externalLengthFallback(folder: ModelFiles, location: string, offset: number, dataType: DataType, dims: number[]): number {
  const elementBytes = BYTES_PER_ELEMENT[dataType];
  if (elementBytes !== undefined) return elementCount(dims) * elementBytes;
  const file = folder.open(location);
  file.close();
  return file.size - offset;
}

/** Converts the typed repeated fields (float_data, int32_data, ...) to raw little-endian bytes. */
function typedFieldBytes(t: TensorProto, name: string, dataType: DataType, count: number): Uint8Array {
  const elementBytes = BYTES_PER_ELEMENT[dataType];
  if (elementBytes === undefined) throw new Error(`tensor "${name}": data type ${dataType} is not supported`);
  const out = new Uint8Array(count * elementBytes);
  const view = new DataView(out.buffer);
  const source = typedFieldOf(t);
  if (!source) {
    if (count === 0) return out;
    throw new Error(`tensor "${name}" has ${count} elements but no data`);
  }
  if (source.values.length !== count) {
    throw new Error(`tensor "${name}" has ${source.values.length} values in ${source.field}, expected ${count}`);
  }
  source.values.forEach((v, i) => writeElement(view, i * elementBytes, elementBytes, dataType, v));
  return out;
}

function typedFieldOf(t: TensorProto): { field: string; values: Array<number | Int64> } | undefined {
  if (t.float_data?.length) return { field: "float_data", values: t.float_data };
  if (t.int32_data?.length) return { field: "int32_data", values: t.int32_data };
  if (t.int64_data?.length) return { field: "int64_data", values: t.int64_data };
  if (t.double_data?.length) return { field: "double_data", values: t.double_data };
  if (t.uint64_data?.length) return { field: "uint64_data", values: t.uint64_data };
  return undefined;
}

function writeElement(view: DataView, at: number, size: number, dataType: DataType, v: number | Int64): void {
  if (dataType === DataType.FLOAT) view.setFloat32(at, Number(v), true);
  else if (dataType === DataType.DOUBLE) view.setFloat64(at, Number(v), true);
  else if (size === 8) view.setBigUint64(at, BigInt.asUintN(64, int64ToBigInt(v)), true);
  else if (size === 4) view.setUint32(at, Number(BigInt.asUintN(32, int64ToBigInt(v))), true);
  else if (size === 2) view.setUint16(at, Number(BigInt.asUintN(16, int64ToBigInt(v))), true);
  else view.setUint8(at, Number(BigInt.asUintN(8, int64ToBigInt(v))));
}

// ---------------------------------------------------------------------------------------------
// Small helpers

const utf8 = { decode: (b: Uint8Array) => new TextDecoder().decode(b) };

/** Presence of an optional proto2 field on a decoded message (defaults live on the prototype). */
function has(message: object, field: string): boolean {
  return Object.prototype.hasOwnProperty.call(message, field);
}

/** A plain Uint8Array over the same memory (decoders may hand out Buffers). */
function plainView(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

type TypedArrayOf<T> = { new (buffer: ArrayBuffer): T; readonly BYTES_PER_ELEMENT: number };

function typedCopy<T>(init: Initializer, expected: DataType, ctor: TypedArrayOf<T>): T {
  if (init.dataType !== expected) {
    throw new Error(`initializer "${init.name}" has data type ${init.dataType}, expected ${expected}`);
  }
  const bytes = readTensorBytes(init.data);
  if (bytes.byteLength % ctor.BYTES_PER_ELEMENT !== 0) {
    throw new Error(`initializer "${init.name}": ${bytes.byteLength} bytes is not a whole number of elements`);
  }
  return new ctor(new Uint8Array(bytes).buffer); // the copy is aligned and owned by the caller
}
