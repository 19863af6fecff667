// The in-memory ONNX model: plain typed data, no behaviour. The builder produces it, the
// protobuf layer encodes/decodes it, the quantizer rewrites it.
import type { ByteSource } from "../common/files.js";

/** ONNX TensorProto.DataType codes (the subset this project emits or reads). */
export enum DataType {
  FLOAT = 1,
  UINT8 = 2,
  INT8 = 3,
  UINT16 = 4,
  INT16 = 5,
  INT32 = 6,
  INT64 = 7,
  STRING = 8,
  BOOL = 9,
  FLOAT16 = 10,
  DOUBLE = 11,
  UINT32 = 12,
  UINT64 = 13,
  BFLOAT16 = 16,
}

/** Bytes per element of each fixed-size data type. */
export const BYTES_PER_ELEMENT: Readonly<Partial<Record<DataType, number>>> = {
  [DataType.FLOAT]: 4,
  [DataType.UINT8]: 1,
  [DataType.INT8]: 1,
  [DataType.UINT16]: 2,
  [DataType.INT16]: 2,
  [DataType.INT32]: 4,
  [DataType.INT64]: 8,
  [DataType.BOOL]: 1,
  [DataType.FLOAT16]: 2,
  [DataType.DOUBLE]: 8,
  [DataType.UINT32]: 4,
  [DataType.UINT64]: 8,
  [DataType.BFLOAT16]: 2,
};

/** A dimension: a fixed size, or a symbolic name such as "batch" (ONNX dim_param). */
export type Dim = number | string;

export interface ValueInfo {
  name: string;
  elemType: DataType;
  /** Undefined: rank unknown. */
  shape?: Dim[];
}

/**
 * Where an initializer's little-endian raw bytes come from. `file` ranges are copied straight
 * from a checkpoint into the output; `lazy` is computed when the writer reaches it, so at most
 * one converted tensor is alive at a time. `read` returns fresh bytes the caller may keep;
 * `fill`, when present, writes the same bytes into memory the caller owns (a streaming writer
 * reuses one buffer instead of faulting in fresh pages for every tensor).
 */
export type TensorBytes =
  | { kind: "bytes"; bytes: Uint8Array }
  | {
      kind: "file";
      /** The file holding the range (a checkpoint, an external data file). */
      source: ByteSource;
      offset: number;
      length: number;
      /**
       * Called by every reader with each piece of the range it reads (a whole number of 4-byte
       * elements) and the piece's offset in the file; throws to refuse the bytes (NaN weights).
       */
      check?: (bytes: Uint8Array, fileOffset: number) => void;
    }
  | { kind: "lazy"; length: number; read: () => Uint8Array; fill?: (target: Uint8Array) => void };

export interface Initializer {
  name: string;
  dataType: DataType;
  dims: number[];
  data: TensorBytes;
}

export type Attribute =
  | { kind: "int"; value: number }
  | { kind: "float"; value: number }
  | { kind: "string"; value: string }
  | { kind: "ints"; value: number[] }
  | { kind: "floats"; value: number[] }
  | { kind: "strings"; value: string[] }
  | { kind: "tensor"; value: Initializer };

export interface Node {
  opType: string;
  /** "" is the default ONNX domain; "com.microsoft" for onnxruntime contrib ops. */
  domain: string;
  name: string;
  /** "" marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attributes: Record<string, Attribute>;
}

export interface Graph {
  name: string;
  nodes: Node[];
  initializers: Initializer[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  valueInfo: ValueInfo[];
}

export interface OpsetImport {
  domain: string;
  version: number;
}

export interface Model {
  irVersion: number;
  opsetImports: OpsetImport[];
  producerName: string;
  producerVersion: string;
  /** ONNX metadata_props: free-form provenance (source model, architecture, variant...). */
  metadata: Record<string, string>;
  graph: Graph;
}

/** Byte length of an initializer's raw data. */
export function byteLength(data: TensorBytes): number {
  return data.kind === "bytes" ? data.bytes.byteLength : data.length;
}

export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}
