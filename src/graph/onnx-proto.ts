// The subset of onnx.proto (github.com/onnx/onnx, onnx/onnx.proto) this project reads and writes,
// as protobufjs reflection. Field numbers are copied exactly from upstream: onnxruntime parses the
// files we write, and it only knows fields by number. Syntax stays proto2 like upstream so that
// repeated scalars are written as upstream declares them: packed only where it says [packed = true]
// (readers accept both forms anyway).
import protobuf from "protobufjs";

const ONNX_PROTO = `
syntax = "proto2";
package onnx;

message StringStringEntryProto {
  optional string key = 1;
  optional string value = 2;
}

message OperatorSetIdProto {
  optional string domain = 1;
  optional int64 version = 2;
}

message TensorShapeProto {
  message Dimension {
    optional int64 dim_value = 1;
    optional string dim_param = 2;
    optional string denotation = 3;
  }
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor {
    optional int32 elem_type = 1;
    optional TensorShapeProto shape = 2;
  }
  optional Tensor tensor_type = 1;
  optional string denotation = 6;
}

message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
  optional string doc_string = 3;
}

message TensorProto {
  enum DataLocation {
    DEFAULT = 0;
    EXTERNAL = 1;
  }
  repeated int64 dims = 1;
  optional int32 data_type = 2;
  repeated float float_data = 4 [packed = true];
  repeated int32 int32_data = 5 [packed = true];
  repeated bytes string_data = 6;
  repeated int64 int64_data = 7 [packed = true];
  optional string name = 8;
  optional bytes raw_data = 9;
  repeated double double_data = 10 [packed = true];
  repeated uint64 uint64_data = 11 [packed = true];
  optional string doc_string = 12;
  repeated StringStringEntryProto external_data = 13;
  optional DataLocation data_location = 14;
}

message AttributeProto {
  enum AttributeType {
    UNDEFINED = 0;
    FLOAT = 1;
    INT = 2;
    STRING = 3;
    TENSOR = 4;
    GRAPH = 5;
    FLOATS = 6;
    INTS = 7;
    STRINGS = 8;
    TENSORS = 9;
    GRAPHS = 10;
  }
  optional string name = 1;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  optional TensorProto t = 5;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
  optional string doc_string = 13;
  optional AttributeType type = 20;
  optional string ref_attr_name = 21;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  repeated AttributeProto attribute = 5;
  optional string doc_string = 6;
  optional string domain = 7;
}

message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  optional string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
}

message ModelProto {
  optional int64 ir_version = 1;
  optional string producer_name = 2;
  optional string producer_version = 3;
  optional string domain = 4;
  optional int64 model_version = 5;
  optional string doc_string = 6;
  optional GraphProto graph = 7;
  repeated OperatorSetIdProto opset_import = 8;
  repeated StringStringEntryProto metadata_props = 14;
}
`;

/** Field numbers the streaming writer emits by hand (it never builds these messages whole). */
export const FIELD = {
  MODEL_GRAPH: 7,
  GRAPH_INITIALIZER: 5,
  TENSOR_RAW_DATA: 9,
} as const;

export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
} as const;

export const DataLocation = { DEFAULT: 0, EXTERNAL: 1 } as const;

/** int64 fields: we write JS numbers; decoding may yield protobufjs Long objects. */
export type Int64 = number | protobuf.Long;

// Plain-object shapes of the messages (snake_case as in onnx.proto; keepCase parsing).
export interface StringStringEntryProto {
  key?: string;
  value?: string;
}
export interface OperatorSetIdProto {
  domain?: string;
  version?: Int64;
}
export interface DimensionProto {
  dim_value?: Int64;
  dim_param?: string;
}
export interface TensorShapeProto {
  dim?: DimensionProto[];
}
export interface TypeProto {
  tensor_type?: { elem_type?: number; shape?: TensorShapeProto };
}
export interface ValueInfoProto {
  name?: string;
  type?: TypeProto;
}
export interface TensorProto {
  dims?: Int64[];
  data_type?: number;
  float_data?: number[];
  int32_data?: number[];
  int64_data?: Int64[];
  double_data?: number[];
  uint64_data?: Int64[];
  name?: string;
  raw_data?: Uint8Array;
  external_data?: StringStringEntryProto[];
  data_location?: number;
}
export interface AttributeProto {
  name?: string;
  type?: number;
  f?: number;
  i?: Int64;
  s?: Uint8Array;
  t?: TensorProto;
  floats?: number[];
  ints?: Int64[];
  strings?: Uint8Array[];
}
export interface NodeProto {
  input?: string[];
  output?: string[];
  name?: string;
  op_type?: string;
  domain?: string;
  attribute?: AttributeProto[];
}
export interface GraphProto {
  node?: NodeProto[];
  name?: string;
  initializer?: TensorProto[];
  input?: ValueInfoProto[];
  output?: ValueInfoProto[];
  value_info?: ValueInfoProto[];
}
export interface ModelProto {
  ir_version?: Int64;
  producer_name?: string;
  producer_version?: string;
  graph?: GraphProto;
  opset_import?: OperatorSetIdProto[];
  metadata_props?: StringStringEntryProto[];
}

const root = protobuf.parse(ONNX_PROTO, { keepCase: true }).root;

/** A message type with typed encode/decode over the plain-object shape `T`. */
export interface MessageCodec<T> {
  readonly type: protobuf.Type;
  encode(message: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

function codec<T>(name: string): MessageCodec<T> {
  const type = root.lookupType(`onnx.${name}`);
  return {
    type,
    // fromObject, not create: it checks field types and converts nested plain objects.
    encode: (message) => type.encode(type.fromObject(message as Record<string, unknown>)).finish(),
    decode: (bytes) => type.decode(bytes) as unknown as T,
  };
}

export const onnx = {
  ModelProto: codec<ModelProto>("ModelProto"),
  GraphProto: codec<GraphProto>("GraphProto"),
  NodeProto: codec<NodeProto>("NodeProto"),
  AttributeProto: codec<AttributeProto>("AttributeProto"),
  TensorProto: codec<TensorProto>("TensorProto"),
  ValueInfoProto: codec<ValueInfoProto>("ValueInfoProto"),
} as const;

/** Exact value of a decoded int64 (a number, or a Long's two 32-bit halves). */
export function int64ToBigInt(value: Int64): bigint {
  if (typeof value === "number") return BigInt(value);
  const bits = (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0);
  return value.unsigned ? bits : BigInt.asIntN(64, bits);
}

/** Converts a decoded int64 to a JS number; throws beyond 2^53 rather than lose digits. */
export function int64ToNumber(value: Int64 | undefined | null): number {
  if (value === undefined || value === null) return 0;
  if (typeof value === "number") return value;
  const exact = int64ToBigInt(value);
  const n = Number(exact);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int64 value ${exact} exceeds 2^53`);
  return n;
}
