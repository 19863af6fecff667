// Reader and writer for Hugging Face safetensors checkpoints, single-file or sharded.
//
// Layout of one file: an 8-byte little-endian u64 N, N bytes of UTF-8 JSON header, then the data
// buffer. The header maps tensor names to {dtype, shape, data_offsets} (offsets relative to the
// data buffer) plus an optional "__metadata__" object of strings.
//
// Files may come from anywhere, so the header is validated completely before anything is trusted:
// every failure is a one-line WeightError naming the file, and no length taken from the file is
// used for an allocation before it has been checked against the real file size. Opening reads the
// header only; tensor bytes are read from disk each time a tensor is asked for.
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
  type Stats,
} from "node:fs";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import type { TensorBytes } from "../graph/ir.js";
import { WeightError, type WeightDtype, type WeightInfo, type WeightStore } from "./weights.js";

/** Bytes per element of each safetensors dtype. */
export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<WeightDtype, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** Largest JSON header accepted; the same limit as the reference (Rust) implementation. */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;

/** File names transformers uses for a checkpoint folder. */
export const SAFETENSORS_SINGLE_FILE = "model.safetensors";
export const SAFETENSORS_INDEX_FILE = "model.safetensors.index.json";

const LENGTH_PREFIX_BYTES = 8;
const METADATA_KEY = "__metadata__";
const SUPPORTED_DTYPES = Object.keys(SAFETENSORS_DTYPE_BYTES).join(", ");

/** Checkpoints are little-endian; on a big-endian host the readers/writers swap bytes. */
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------
// Header parsing (pure)

/** One tensor of a safetensors file, located by absolute byte range in that file. */
export interface SafetensorsTensor extends WeightInfo {
  /** Absolute byte offset of the tensor's data in the file. */
  offset: number;
  /** Byte length of the tensor's data. */
  length: number;
}

export interface SafetensorsHeader {
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
  /** Absolute offset of the data buffer: 8 + N. */
  dataStart: number;
}

/**
 * Validates a safetensors header and locates every tensor in the file.
 *
 * @param headerBytes the first bytes of the file: the 8-byte length prefix followed by (at least)
 *   the JSON header; anything after the header is ignored.
 * @param fileSize the size of the whole file, against which every data range is checked.
 * @param fileLabel how errors name the file.
 * @throws WeightError, one line naming the file, on any inconsistency.
 */
export function parseSafetensorsHeader(
  headerBytes: Uint8Array,
  fileSize: number,
  fileLabel: string,
): SafetensorsHeader {
  if (!Number.isSafeInteger(fileSize) || fileSize < 0) {
    throw new WeightError(`${fileLabel}: invalid file size ${String(fileSize)}`);
  }
  const headerLength = readHeaderLength(headerBytes, fileSize, fileLabel);
  const dataStart = LENGTH_PREFIX_BYTES + headerLength;
  if (headerBytes.byteLength < dataStart) {
    throw new WeightError(
      `${fileLabel}: only ${headerBytes.byteLength} of the ${dataStart} header bytes were given; read the whole header`,
    );
  }
  const json = decodeHeaderJson(headerBytes.subarray(LENGTH_PREFIX_BYTES, dataStart), fileLabel);
  const dataSize = fileSize - dataStart;

  const tensors = new Map<string, SafetensorsTensor>();
  let metadata: Record<string, string> = {};
  for (const [key, entry] of Object.entries(json)) {
    if (key === METADATA_KEY) metadata = parseMetadata(entry, fileLabel);
    else tensors.set(key, parseTensorEntry(key, entry, dataStart, dataSize, fileLabel));
  }
  checkNoOverlap([...tensors.values()], dataStart, fileLabel);
  return { tensors, metadata, dataStart };
}

/** Reads and bounds-checks N, the JSON header length, from the file's first 8 bytes. */
function readHeaderLength(prefix: Uint8Array, fileSize: number, fileLabel: string): number {
  if (fileSize < LENGTH_PREFIX_BYTES) {
    throw new WeightError(
      `${fileLabel} is truncated: it has ${fileSize} bytes, fewer than the 8-byte header length of a safetensors file; re-download it`,
    );
  }
  if (prefix.byteLength < LENGTH_PREFIX_BYTES) {
    throw new WeightError(
      `${fileLabel}: only ${prefix.byteLength} bytes given, fewer than the 8-byte header length; read the whole header`,
    );
  }
  const declared = new DataView(prefix.buffer, prefix.byteOffset, LENGTH_PREFIX_BYTES).getBigUint64(0, true);
  if (declared > BigInt(SAFETENSORS_MAX_HEADER_BYTES)) {
    throw new WeightError(
      `${fileLabel}: header length ${declared} is over the ${SAFETENSORS_MAX_HEADER_BYTES}-byte limit; this is not a safetensors file or it is corrupt — re-download it`,
    );
  }
  const headerLength = Number(declared);
  if (LENGTH_PREFIX_BYTES + headerLength > fileSize) {
    throw new WeightError(
      `${fileLabel} is truncated: header says ${headerLength} bytes but the file has ${fileSize}; re-download it`,
    );
  }
  return headerLength;
}

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });

function decodeHeaderJson(bytes: Uint8Array, fileLabel: string): Record<string, unknown> {
  let text: string;
  try {
    text = STRICT_UTF8.decode(bytes);
  } catch {
    throw new WeightError(`${fileLabel}: header is not valid UTF-8; the file is corrupt or not a safetensors file — re-download it`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const reason = clip(oneLine(err instanceof Error ? err.message : String(err)));
    throw new WeightError(
      `${fileLabel}: header is not valid JSON (${reason}); the file is corrupt or not a safetensors file — re-download it`,
    );
  }
  if (!isPlainObject(value)) {
    throw new WeightError(
      `${fileLabel}: header is ${kindOf(value)}, not a JSON object of tensors; the file is corrupt or not a safetensors file — re-download it`,
    );
  }
  return value;
}

function parseMetadata(entry: unknown, fileLabel: string): Record<string, string> {
  const invalid = (what: string) =>
    new WeightError(`${fileLabel}: ${METADATA_KEY} ${what}; the file is corrupt — re-download it`);
  if (!isPlainObject(entry)) throw invalid(`is ${kindOf(entry)}, not an object of strings`);
  for (const [key, value] of Object.entries(entry)) {
    if (typeof value !== "string") throw invalid(`entry ${quote(key)} is ${describe(value)}, not a string`);
  }
  return { ...(entry as Record<string, string>) };
}

function parseTensorEntry(
  name: string,
  entry: unknown,
  dataStart: number,
  dataSize: number,
  fileLabel: string,
): SafetensorsTensor {
  const corrupt = (what: string) =>
    new WeightError(`${fileLabel}: tensor ${quote(name)} ${what}; the file is corrupt — re-download it`);
  if (!isPlainObject(entry)) throw corrupt(`is ${describe(entry)}, not an object with dtype, shape and data_offsets`);

  const dtype = parseDtype(entry.dtype, name, fileLabel);
  const shape = entry.shape;
  if (!Array.isArray(shape) || !shape.every(isNonNegativeSafeInteger)) {
    throw corrupt(`has shape ${describe(shape)}, not a list of non-negative integers`);
  }
  const offsets = entry.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeSafeInteger)) {
    throw corrupt(`has data_offsets ${describe(offsets)}, not two non-negative integers [begin, end]`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw corrupt(`has data_offsets [${begin}, ${end}] that end before they begin`);
  if (end > dataSize) {
    throw new WeightError(
      `${fileLabel}: tensor ${quote(name)} data_offsets [${begin}, ${end}] reach past the ${dataSize}-byte data buffer; the file is truncated or corrupt — re-download it`,
    );
  }
  const dims = shape.map((d: number) => d + 0); // + 0 turns -0 into 0
  const expected = tensorByteLength(dims, dtype);
  if (expected !== end - begin) {
    const size = expected === undefined ? "more than 2^53 bytes" : `${expected} bytes`;
    throw corrupt(`data_offsets [${begin}, ${end}] do not match shape ${formatShape(dims)} × ${dtype} (${size})`);
  }
  return { name, dtype, shape: dims, offset: dataStart + begin, length: end - begin };
}

function parseDtype(value: unknown, name: string, fileLabel: string): WeightDtype {
  if (typeof value === "string" && Object.hasOwn(SAFETENSORS_DTYPE_BYTES, value)) return value as WeightDtype;
  if (typeof value === "string") {
    throw new WeightError(
      `${fileLabel}: tensor ${quote(name)} has dtype ${quote(value)}, which this reader does not support (supported: ${SUPPORTED_DTYPES}); convert the checkpoint to F32, F16 or BF16`,
    );
  }
  throw new WeightError(
    `${fileLabel}: tensor ${quote(name)} has dtype ${describe(value)}, not a dtype name; the file is corrupt — re-download it`,
  );
}

/**
 * product(shape) × bytes per element, or undefined past 2^53. Exact: every partial product is
 * checked to still be a safe integer (dimensions are all ≥ 1 unless the product is 0).
 */
function tensorByteLength(shape: readonly number[], dtype: WeightDtype): number | undefined {
  if (shape.includes(0)) return 0;
  let bytes = SAFETENSORS_DTYPE_BYTES[dtype];
  for (const dim of shape) {
    bytes *= dim;
    if (!Number.isSafeInteger(bytes)) return undefined;
  }
  return bytes;
}

function checkNoOverlap(tensors: SafetensorsTensor[], dataStart: number, fileLabel: string): void {
  const nonEmpty = tensors.filter((t) => t.length > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < nonEmpty.length; i++) {
    const previous = nonEmpty[i - 1]!;
    const current = nonEmpty[i]!;
    if (current.offset < previous.offset + previous.length) {
      throw new WeightError(
        `${fileLabel}: tensors ${quote(previous.name)} ${formatRange(previous, dataStart)} and ${quote(current.name)} ${formatRange(current, dataStart)} overlap; the file is corrupt — re-download it`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// One file on disk

/** An open safetensors file: header parsed, tensor bytes read on demand. */
export class SafetensorsFile {
  /** Absolute path of the file. */
  readonly path: string;
  readonly size: number;
  readonly tensors: ReadonlyMap<string, SafetensorsTensor>;
  readonly metadata: Readonly<Record<string, string>>;
  #fd: number | undefined;

  private constructor(path: string, fd: number, size: number, header: SafetensorsHeader) {
    this.path = path;
    this.#fd = fd;
    this.size = size;
    this.tensors = header.tensors;
    this.metadata = header.metadata;
  }

  /** Opens a file and reads its header only. */
  static open(path: string): SafetensorsFile {
    const fullPath = resolve(path);
    const fd = openForReading(fullPath);
    try {
      const size = regularFileSize(fd, fullPath);
      const prefix = readExactly(fd, 0, Math.min(size, LENGTH_PREFIX_BYTES), fullPath);
      const headerLength = readHeaderLength(prefix, size, fullPath);
      const headerBytes = readExactly(fd, 0, LENGTH_PREFIX_BYTES + headerLength, fullPath);
      return new SafetensorsFile(fullPath, fd, size, parseSafetensorsHeader(headerBytes, size, fullPath));
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  /** The raw little-endian bytes of one tensor, read from disk now, in a fresh buffer. */
  readRaw(name: string): Uint8Array {
    const tensor = this.tensors.get(name);
    if (!tensor) throw new WeightError(`${this.path}: no tensor ${quote(name)} in this file`);
    if (this.#fd === undefined) throw new WeightError(`${this.path}: file was closed; open it again to read ${quote(name)}`);
    return readExactly(this.#fd, tensor.offset, tensor.length, this.path);
  }

  /** Every tensor's bytes lie in the file as they are. */
  fileRange(name: string): { offset: number; length: number } | undefined {
    const tensor = this.tensors.get(name);
    return tensor && { offset: tensor.offset, length: tensor.length };
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}

export function openForReading(path: string): number {
  try {
    return openSync(path, "r");
  } catch (err) {
    throw new WeightError(`${path}: cannot open (${fsReason(err)}); check the path`);
  }
}

function regularFileSize(fd: number, path: string): number {
  const stats = fstatSync(fd);
  if (!stats.isFile()) throw new WeightError(`${path}: not a regular file; point at a .safetensors file`);
  return stats.size;
}

/** readSync is limited to 2 GiB per call; large tensors are read in chunks. */
const MAX_READ_CHUNK = 1 << 30;

/** Reads exactly `length` bytes at `position` into a fresh buffer; a short read means truncation. */
export function readExactly(fd: number, position: number, length: number, fileLabel: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(length);
  } catch {
    throw new WeightError(`${fileLabel}: cannot allocate ${length} bytes to read a tensor; the tensor is too large for this process`);
  }
  let done = 0;
  while (done < length) {
    let read: number;
    try {
      read = readSync(fd, bytes, done, Math.min(length - done, MAX_READ_CHUNK), position + done);
    } catch (err) {
      throw new WeightError(`${fileLabel}: cannot read (${fsReason(err)})`);
    }
    if (read === 0) {
      throw new WeightError(
        `${fileLabel} is truncated: expected ${length} bytes at offset ${position} but the file ended after ${done}; re-download it`,
      );
    }
    done += read;
  }
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// A checkpoint: one file or an index with shards

/** One file of a checkpoint as the shared store sees it (safetensors, pytorch_model.bin). */
export interface CheckpointFile {
  /** Absolute path. */
  readonly path: string;
  readonly tensors: ReadonlyMap<string, WeightInfo>;
  /** The tensor's elements, row-major, as little-endian bytes of its dtype, read now into a fresh buffer. */
  readRaw(name: string): Uint8Array;
  /** Where the tensor's bytes lie in the file when a writer can copy them as they are. */
  fileRange(name: string): { offset: number; length: number } | undefined;
  close(): void;
}

/** A checkpoint format's file names in a model folder, and how one of its files is opened. */
export interface CheckpointLayout<F extends CheckpointFile> {
  /** The whole checkpoint in one file ("model.safetensors"). */
  singleFile: string;
  /** The index of a sharded checkpoint ("model.safetensors.index.json"). */
  indexFile: string;
  /** For messages: the weights' kind ("safetensors") and a single file's extension (".safetensors"). */
  kind: string;
  extension: string;
  open(path: string): F;
}

/** A WeightStore over checkpoint files: tensor name → the file holding it, read on demand. */
export class FileCheckpoint<F extends CheckpointFile> implements WeightStore {
  readonly source: string;
  /** Absolute paths of the open files. */
  readonly files: readonly string[];
  readonly #locations: ReadonlyMap<string, F>;
  readonly #openFiles: readonly F[];
  #closed = false;

  protected constructor(source: string, openFiles: F[], locations: Map<string, F>) {
    this.source = source;
    this.#openFiles = openFiles;
    this.#locations = locations;
    this.files = openFiles.map((f) => f.path);
  }

  /**
   * Opens what `path` names — a folder (its single file, else its index), an index and its
   * shards, or one file — and says which file holds each tensor.
   */
  protected static openFiles<F extends CheckpointFile>(path: string, layout: CheckpointLayout<F>): { files: F[]; locations: Map<string, F> } {
    const target = checkpointEntryFile(path, layout);
    if (target.endsWith(".index.json")) {
      const { shards, locations } = openIndexedShards(target, layout.open);
      return { files: [...shards.values()], locations };
    }
    const file = layout.open(target);
    return { files: [file], locations: new Map([...file.tensors.keys()].map((name) => [name, file])) };
  }

  names(): string[] {
    return [...this.#locations.keys()];
  }

  has(name: string): boolean {
    return this.#locations.has(name);
  }

  info(name: string): WeightInfo {
    const { dtype, shape } = this.#tensor(name).tensor;
    return { name, dtype, shape: [...shape] };
  }

  float32(name: string): Float32Array {
    const { file, tensor } = this.#tensor(name);
    return rawToFloat32(file.readRaw(name), tensor.dtype);
  }

  /** F32 tensors lying as they are in the file are handed out as file ranges (already little-endian). */
  float32Bytes(name: string): TensorBytes {
    const { file, tensor } = this.#tensor(name);
    const range = tensor.dtype === "F32" ? file.fileRange(name) : undefined;
    if (range) return { kind: "file", path: file.path, ...range };
    const elements = tensor.shape.reduce((a, b) => a * b, 1);
    return { kind: "lazy", length: elements * 4, read: () => littleEndianBytes(this.float32(name)) };
  }

  close(): void {
    for (const file of this.#openFiles) file.close();
    this.#closed = true;
  }

  #tensor(name: string): { file: F; tensor: WeightInfo } {
    if (this.#closed) throw new WeightError(`${this.source}: checkpoint was closed; open it again to read ${quote(name)}`);
    const file = this.#locations.get(name);
    if (!file) throw this.#missingTensorError(name);
    return { file, tensor: file.tensors.get(name)! };
  }

  #missingTensorError(name: string): WeightError {
    const similar = findSimilarName(name, this.names());
    const hint = similar === undefined ? "" : `; it has ${quote(similar)} — the names differ by a prefix`;
    return new WeightError(`tensor ${quote(name)} is not in checkpoint ${this.source}${hint}`);
  }
}

/** A safetensors checkpoint (model.safetensors, or model.safetensors.index.json and its shards). */
export class SafetensorsCheckpoint extends FileCheckpoint<SafetensorsFile> {
  /** The files' __metadata__ (merged over shards, in shard order). */
  readonly metadata: Readonly<Record<string, string>>;

  private constructor(source: string, openFiles: SafetensorsFile[], locations: Map<string, SafetensorsFile>) {
    super(source, openFiles, locations);
    // fromEntries (not Object.assign) so a key such as "__proto__" stays an ordinary entry.
    this.metadata = Object.fromEntries(openFiles.flatMap((f) => Object.entries(f.metadata)));
  }

  /**
   * Opens a checkpoint from a folder (model.safetensors, else model.safetensors.index.json and
   * its shards), an index file, or a single .safetensors file. Reads headers only.
   */
  static open(path: string): SafetensorsCheckpoint {
    const { files, locations } = FileCheckpoint.openFiles(path, SAFETENSORS_LAYOUT);
    return new SafetensorsCheckpoint(path, files, locations);
  }
}

const SAFETENSORS_LAYOUT: CheckpointLayout<SafetensorsFile> = {
  singleFile: SAFETENSORS_SINGLE_FILE,
  indexFile: SAFETENSORS_INDEX_FILE,
  kind: "safetensors",
  extension: ".safetensors",
  open: (path) => SafetensorsFile.open(path),
};

/** The file a checkpoint path leads to: itself, or in a folder its single file, else its index. */
function checkpointEntryFile(path: string, layout: CheckpointLayout<CheckpointFile>): string {
  const stats = statOrUndefined(path);
  if (!stats) throw new WeightError(`${path}: no such file or folder; point at a model folder or a ${layout.extension} file`);
  if (!stats.isDirectory()) return path;
  for (const name of [layout.singleFile, layout.indexFile]) {
    if (statOrUndefined(join(path, name))?.isFile()) return join(path, name);
  }
  throw new WeightError(
    `${path}: found neither ${layout.singleFile} nor ${layout.indexFile}; the folder must hold the model's ${layout.kind} weights`,
  );
}

/** A tensor name equal to `name` up to a leading component such as "bert." or "model.". */
function findSimilarName(name: string, names: readonly string[]): string | undefined {
  const withoutPrefix = (s: string) => s.slice(s.indexOf(".") + 1);
  const candidates = names.filter(
    (c) => c.endsWith(`.${name}`) || name.endsWith(`.${c}`) || (c.includes(".") && withoutPrefix(c) === withoutPrefix(name)),
  );
  return candidates.sort((a, b) => a.length - b.length)[0];
}

/** Index files are small; a bound keeps a hostile one from being read whole. */
const MAX_INDEX_BYTES = 100_000_000;

/** Reads an index (model.safetensors.index.json, pytorch_model.bin.index.json): tensor name → shard file name. */
function readWeightMap(indexPath: string): Map<string, string> {
  const invalid = (what: string) =>
    new WeightError(`${indexPath}: ${what}; the index is corrupt — re-download the checkpoint`);
  const stats = statOrUndefined(indexPath);
  if (!stats?.isFile()) throw new WeightError(`${indexPath}: no such file; point at a model folder or a weights file`);
  if (stats.size > MAX_INDEX_BYTES) throw invalid(`is ${stats.size} bytes, too large for an index`);
  let index: unknown;
  try {
    index = JSON.parse(readFileSync(indexPath, "utf8"));
  } catch (err) {
    throw invalid(`is not valid JSON (${clip(oneLine(err instanceof Error ? err.message : String(err)))})`);
  }
  if (!isPlainObject(index) || !isPlainObject(index.weight_map)) throw invalid("has no weight_map object");
  const weightMap = new Map<string, string>();
  for (const [tensor, shard] of Object.entries(index.weight_map)) {
    if (typeof shard !== "string" || shard === "") {
      throw invalid(`weight_map entry ${quote(tensor)} is ${describe(shard)}, not a shard file name`);
    }
    weightMap.set(tensor, shard);
  }
  return weightMap;
}

/**
 * Opens every shard an index (`weight_map`: tensor → shard file) names and checks that each
 * tensor is where the index says; returns shard name → file and tensor → file.
 */
export function openIndexedShards<F extends CheckpointFile>(
  indexPath: string,
  open: (path: string) => F,
): { shards: Map<string, F>; locations: Map<string, F> } {
  const weightMap = readWeightMap(indexPath);
  const folder = dirname(indexPath);
  const shards = new Map<string, F>();
  try {
    for (const shardName of new Set(weightMap.values())) {
      shards.set(shardName, open(shardPath(folder, shardName, indexPath)));
    }
    const locations = new Map<string, F>();
    for (const [tensor, shardName] of weightMap) {
      const shard = shards.get(shardName)!;
      if (!shard.tensors.has(tensor)) throw misplacedTensorError(tensor, shardName, shards, indexPath);
      locations.set(tensor, shard);
    }
    return { shards, locations };
  } catch (err) {
    for (const shard of shards.values()) shard.close();
    throw err;
  }
}

/** The path of a shard named by an index, checked to stay in the folder and to exist. */
function shardPath(folder: string, shardName: string, indexPath: string): string {
  const shardPath = join(folder, shardName);
  if (isAbsolute(shardName) || relative(folder, shardPath).startsWith("..")) {
    throw new WeightError(`${indexPath}: shard ${quote(shardName)} is outside the checkpoint folder; the index is corrupt — re-download the checkpoint`);
  }
  if (!statOrUndefined(shardPath)?.isFile()) {
    throw new WeightError(
      `${indexPath}: shard ${quote(shardName)} listed in weight_map does not exist (expected ${shardPath}); download every shard of the checkpoint`,
    );
  }
  return shardPath;
}

function misplacedTensorError(tensor: string, shardName: string, shards: ReadonlyMap<string, CheckpointFile>, indexPath: string): WeightError {
  const actual = [...shards.entries()].find(([, file]) => file.tensors.has(tensor))?.[0];
  const whereItIs = actual === undefined ? "no shard contains it" : `it is in ${quote(actual)}`;
  return new WeightError(
    `${indexPath}: weight_map puts tensor ${quote(tensor)} in shard ${quote(shardName)}, but that shard does not contain it (${whereItIs}); the index and shards do not match — re-download the checkpoint`,
  );
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Conversions to float32

/** Converts a tensor's raw little-endian bytes (a fresh buffer we own) to float32 values. */
function rawToFloat32(raw: Uint8Array, dtype: WeightDtype): Float32Array {
  const width = SAFETENSORS_DTYPE_BYTES[dtype];
  // Typed-array views need an aligned offset and host byte order; copy/swap when they differ.
  const bytes = raw.byteOffset % width === 0 ? raw : raw.slice();
  if (!HOST_IS_LITTLE_ENDIAN) swapBytesInPlace(bytes, width);
  const { buffer, byteOffset } = bytes;
  const count = bytes.byteLength / width;
  switch (dtype) {
    case "F32":
      return new Float32Array(buffer, byteOffset, count);
    case "F16":
      return float16ArrayToFloat32(new Uint16Array(buffer, byteOffset, count));
    case "BF16":
      return bfloat16ArrayToFloat32(new Uint16Array(buffer, byteOffset, count));
    case "F64":
      return new Float32Array(new Float64Array(buffer, byteOffset, count));
    case "I64":
      return Float32Array.from(new BigInt64Array(buffer, byteOffset, count), Number);
    case "I32":
      return new Float32Array(new Int32Array(buffer, byteOffset, count));
    case "I16":
      return new Float32Array(new Int16Array(buffer, byteOffset, count));
    case "I8":
      return new Float32Array(new Int8Array(buffer, byteOffset, count));
    case "U8":
      return new Float32Array(bytes);
    case "BOOL":
      return Float32Array.from(bytes, (b) => (b === 0 ? 0 : 1));
  }
}

/** The little-endian bytes of a typed array (its own buffer on little-endian hosts). */
function littleEndianBytes(values: ArrayBufferView & { BYTES_PER_ELEMENT: number }): Uint8Array {
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (HOST_IS_LITTLE_ENDIAN) return bytes;
  const swapped = bytes.slice();
  swapBytesInPlace(swapped, values.BYTES_PER_ELEMENT);
  return swapped;
}

function swapBytesInPlace(bytes: Uint8Array, width: number): void {
  if (width === 1) return;
  for (let i = 0; i + width <= bytes.length; i += width) bytes.subarray(i, i + width).reverse();
}

// ---------------------------------------------------------------------------------------------
// Half-precision helpers

const scratchFloat = new Float32Array(1);
const scratchBits = new Uint32Array(scratchFloat.buffer);

/** IEEE 754 binary16 bits → number (subnormals, ±0, ±Infinity and NaN included). */
export function float16ToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/**
 * number → IEEE 754 binary16 bits, rounding to nearest even (x is first rounded to float32, as
 * a checkpoint value would be). Overflow gives ±Infinity, NaN gives a quiet NaN.
 */
export function float32ToFloat16(x: number): number {
  scratchFloat[0] = x;
  const bits = scratchBits[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa === 0 ? 0 : 0x200);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) return sign | subnormalHalfBits(exponent, mantissa);
  // Normal: keep 10 of 23 mantissa bits; a carry out of the mantissa correctly bumps the exponent
  // (up to Infinity).
  const kept = (halfExponent << 10) | (mantissa >>> 13);
  return sign | (kept + roundUpBit(mantissa, 13, kept));
}

/** Magnitude bits of a float32 (biased exponent ≤ 112) as a binary16 subnormal or zero. */
function subnormalHalfBits(exponent: number, mantissa: number): number {
  // value = significand × 2^(exponent − 150) and a half subnormal is m × 2^-24, so
  // m = significand >> (126 − exponent).
  const shift = 126 - exponent;
  if (shift > 24) return 0; // below half of the smallest subnormal
  const significand = mantissa | 0x800000;
  const kept = significand >>> shift;
  return kept + roundUpBit(significand, shift, kept);
}

/** 1 when dropping the low `dropped` bits of `value` must round `kept` up (nearest, ties to even). */
function roundUpBit(value: number, dropped: number, kept: number): number {
  const remainder = value & ((1 << dropped) - 1);
  const half = 1 << (dropped - 1);
  return remainder > half || (remainder === half && (kept & 1) === 1) ? 1 : 0;
}

/** bfloat16 bits → number: the top half of a float32. */
export function bfloat16ToFloat32(bits: number): number {
  scratchBits[0] = (bits & 0xffff) << 16;
  return scratchFloat[0]!;
}

/** number → bfloat16 bits, rounding to nearest even; NaN stays a (quiet) NaN. */
export function float32ToBfloat16(x: number): number {
  scratchFloat[0] = x;
  const bits = scratchBits[0]!;
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) return (bits >>> 16) | 0x40;
  return (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
}

let float16Table: Float32Array | undefined;

/** binary16 bits → float32 for a whole array (through a 65536-entry table). */
export function float16ArrayToFloat32(bits: Uint16Array): Float32Array {
  if (!float16Table) {
    float16Table = new Float32Array(0x10000);
    for (let b = 0; b < 0x10000; b++) float16Table[b] = float16ToFloat32(b);
  }
  const table = float16Table;
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]!]!;
  return out;
}

export function float32ArrayToFloat16(values: ArrayLike<number>): Uint16Array {
  return Uint16Array.from(values, float32ToFloat16);
}

/** bfloat16 bits → float32 for a whole array (widening to the top 16 bits of each float). */
export function bfloat16ArrayToFloat32(bits: Uint16Array): Float32Array {
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = bits[i]! << 16;
  return new Float32Array(out.buffer);
}

export function float32ArrayToBfloat16(values: ArrayLike<number>): Uint16Array {
  return Uint16Array.from(values, float32ToBfloat16);
}

// ---------------------------------------------------------------------------------------------
// Writing (fixtures, synthetic checkpoints)

export type SafetensorsData = Float32Array | Uint8Array | Int32Array | BigInt64Array | Uint16Array;

/**
 * A tensor to write. `data` is converted numerically to `dtype`, except that a Uint8Array is
 * taken as the raw little-endian bytes and a Uint16Array as the raw bits of F16/BF16.
 */
export interface SafetensorsTensorData {
  name: string;
  dtype: WeightDtype;
  shape: number[];
  data: SafetensorsData;
}

/**
 * A tensor whose bytes are produced while the file is written (models too large to hold in
 * memory): `write` emits the little-endian `dtype` bytes in order, in chunks, exactly once.
 */
export interface StreamedTensorData {
  name: string;
  dtype: WeightDtype;
  shape: number[];
  write(emit: (bytes: Uint8Array) => void): void;
}

export type SafetensorsTensorSource = SafetensorsTensorData | StreamedTensorData;

/** Writes one safetensors file atomically (temporary file, then rename). */
export function writeSafetensors(
  path: string,
  tensors: readonly SafetensorsTensorSource[],
  metadata?: Record<string, string>,
): void {
  const header = encodeHeader(tensors, metadata, path);
  writeAtomically(path, (fd) => {
    writeAll(fd, header);
    for (const tensor of tensors) {
      if (!("write" in tensor)) {
        writeAll(fd, encodeTensorData(tensor, path));
        continue;
      }
      let written = 0;
      tensor.write((bytes) => {
        writeAll(fd, bytes);
        written += bytes.byteLength;
      });
      const expected = encodedByteLength(tensor, path);
      if (written !== expected) throw new WeightError(`${path}: streamed tensor ${quote(tensor.name)} produced ${written} bytes, ${expected} expected`);
    }
  });
}

/** The bytes of a safetensors file, in memory. */
export function encodeSafetensors(
  tensors: readonly SafetensorsTensorData[],
  metadata?: Record<string, string>,
): Uint8Array {
  const parts = [encodeHeader(tensors, metadata, "safetensors"), ...tensors.map((t) => encodeTensorData(t, "safetensors"))];
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

export interface ShardedSafetensors {
  indexPath: string;
  shardPaths: string[];
}

/**
 * Writes a sharded checkpoint as transformers does: model-0000i-of-0000n.safetensors files of at
 * most `maxShardBytes` of tensor data each (a larger tensor gets a shard of its own) and
 * model.safetensors.index.json mapping every tensor to its shard. Always writes an index, even
 * for one shard.
 */
export function writeShardedSafetensors(
  dir: string,
  tensors: readonly SafetensorsTensorSource[],
  maxShardBytes: number,
  metadata?: Record<string, string>,
): ShardedSafetensors {
  const groups = groupIntoShards(tensors, maxShardBytes, dir);
  mkdirSync(dir, { recursive: true });
  const pad = (n: number) => String(n).padStart(5, "0");
  const weightMap: Array<[string, string]> = [];
  const shardPaths: string[] = [];
  groups.forEach((group, i) => {
    const shardName = `model-${pad(i + 1)}-of-${pad(groups.length)}.safetensors`;
    writeSafetensors(join(dir, shardName), group, metadata);
    shardPaths.push(join(dir, shardName));
    for (const tensor of group) weightMap.push([tensor.name, shardName]);
  });
  const totalSize = tensors.reduce((sum, t) => sum + encodedByteLength(t, dir), 0);
  weightMap.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const index = { metadata: { total_size: totalSize }, weight_map: Object.fromEntries(weightMap) };
  const indexPath = join(dir, SAFETENSORS_INDEX_FILE);
  const indexBytes = new TextEncoder().encode(`${JSON.stringify(index, null, 2)}\n`);
  writeAtomically(indexPath, (fd) => writeAll(fd, indexBytes));
  return { indexPath, shardPaths };
}

export function groupIntoShards<T extends TensorLayout>(tensors: readonly T[], maxShardBytes: number, label: string): T[][] {
  const groups: T[][] = [[]];
  let currentBytes = 0;
  for (const tensor of tensors) {
    const bytes = encodedByteLength(tensor, label);
    if (groups.at(-1)!.length > 0 && currentBytes + bytes > maxShardBytes) {
      groups.push([]);
      currentBytes = 0;
    }
    groups.at(-1)!.push(tensor);
    currentBytes += bytes;
  }
  return groups.filter((group) => group.length > 0); // no tensors: an index without shards
}

/** What the header says about a tensor. */
type TensorLayout = Pick<SafetensorsTensorData, "name" | "dtype" | "shape">;

/** The length prefix and JSON header, padded with spaces so the data starts 8-byte aligned. */
function encodeHeader(
  tensors: readonly TensorLayout[],
  metadata: Record<string, string> | undefined,
  label: string,
): Uint8Array {
  // Built by hand so entries keep their order even for integer-like names.
  const entries: string[] = [];
  if (metadata !== undefined) entries.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`);
  const seen = new Set<string>();
  let begin = 0;
  for (const tensor of tensors) {
    if (tensor.name === METADATA_KEY || seen.has(tensor.name)) {
      throw new WeightError(`${label}: cannot write tensor ${quote(tensor.name)}: the name is reserved or repeated`);
    }
    seen.add(tensor.name);
    const end = begin + encodedByteLength(tensor, label);
    const entry = { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [begin, end] };
    entries.push(`${JSON.stringify(tensor.name)}:${JSON.stringify(entry)}`);
    begin = end;
  }
  const json = new TextEncoder().encode(`{${entries.join(",")}}`);
  const paddedLength = Math.ceil(json.byteLength / 8) * 8;
  const out = new Uint8Array(LENGTH_PREFIX_BYTES + paddedLength).fill(0x20);
  new DataView(out.buffer).setBigUint64(0, BigInt(paddedLength), true);
  out.set(json, LENGTH_PREFIX_BYTES);
  return out;
}

function encodedByteLength(tensor: TensorLayout, label: string): number {
  if (!tensor.shape.every(isNonNegativeSafeInteger)) {
    throw new WeightError(`${label}: cannot write tensor ${quote(tensor.name)}: shape ${formatShape(tensor.shape)} is not a list of non-negative integers`);
  }
  const bytes = tensorByteLength(tensor.shape, tensor.dtype);
  if (bytes === undefined) throw new WeightError(`${label}: cannot write tensor ${quote(tensor.name)}: it is too large`);
  return bytes;
}

/** The tensor's bytes as stored in the file (little-endian `dtype`). */
export function encodeTensorData(tensor: SafetensorsTensorData, label: string): Uint8Array {
  const { name, dtype, shape, data } = tensor;
  const byteLength = encodedByteLength(tensor, label);
  const count = byteLength / SAFETENSORS_DTYPE_BYTES[dtype];
  const mismatch = (what: string) =>
    new WeightError(`${label}: cannot write tensor ${quote(name)}: ${what} for shape ${formatShape(shape)} × ${dtype}`);
  if (data instanceof Uint8Array) {
    if (data.byteLength !== byteLength) throw mismatch(`${data.byteLength} raw bytes given, ${byteLength} needed`);
    return data;
  }
  if (data.length !== count) throw mismatch(`${data.length} values given, ${count} needed`);
  if (data instanceof Uint16Array && (dtype === "F16" || dtype === "BF16")) return littleEndianBytes(data);
  return littleEndianBytes(convertValues(data, dtype, name, label));
}

type NumericArray = Float32Array | Int32Array | BigInt64Array | Uint16Array;

function convertValues(data: NumericArray, dtype: WeightDtype, name: string, label: string) {
  if (dtype === "I64" && data instanceof BigInt64Array) return data;
  const values: ArrayLike<number> = data instanceof BigInt64Array ? Float64Array.from(data, Number) : data;
  const integers = () => {
    for (let i = 0; i < values.length; i++) {
      if (!Number.isInteger(values[i])) {
        throw new WeightError(`${label}: cannot write tensor ${quote(name)} as ${dtype}: value ${values[i]} is not an integer`);
      }
    }
    return values;
  };
  switch (dtype) {
    case "F32":
      return Float32Array.from(values);
    case "F64":
      return Float64Array.from(values);
    case "F16":
      return float32ArrayToFloat16(values);
    case "BF16":
      return float32ArrayToBfloat16(values);
    case "I64":
      return BigInt64Array.from(integers(), (v) => BigInt(v));
    case "I32":
      return Int32Array.from(integers());
    case "I16":
      return Int16Array.from(integers());
    case "I8":
      return Int8Array.from(integers());
    case "U8":
      return Uint8Array.from(integers());
    case "BOOL":
      return Uint8Array.from(values, (v) => (v === 0 ? 0 : 1));
  }
}

function writeAtomically(path: string, write: (fd: number) => void): void {
  const temporary = `${path}.tmp-${process.pid}`;
  try {
    const fd = openSync(temporary, "w");
    try {
      write(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  } catch (err) {
    try {
      unlinkSync(temporary);
    } catch {
      // Nothing was created, or it is already gone.
    }
    if (err instanceof WeightError) throw err;
    throw new WeightError(`${path}: cannot write (${fsReason(err)}); check the folder exists and is writable`);
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.byteLength; ) {
    done += writeSync(fd, bytes, done, Math.min(bytes.byteLength - done, MAX_READ_CHUNK));
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers for validation and one-line messages

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isNonNegativeSafeInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return `a ${typeof value}`;
}

const MAX_QUOTED_CHARS = 120;

function clip(text: string): string {
  return text.length > MAX_QUOTED_CHARS ? `${text.slice(0, MAX_QUOTED_CHARS)}…` : text;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

/** A name as a quoted JSON string (escapes keep hostile names on one line), clipped. */
export function quote(name: string): string {
  return clip(JSON.stringify(name));
}

/** A short JSON rendering of any parsed value, for messages. */
function describe(value: unknown): string {
  try {
    return clip(JSON.stringify(value) ?? String(value));
  } catch {
    return kindOf(value); // e.g. nesting too deep to stringify
  }
}

function formatShape(shape: readonly unknown[]): string {
  return clip(`[${shape.join(", ")}]`);
}

function formatRange(tensor: SafetensorsTensor, dataStart: number): string {
  const begin = tensor.offset - dataStart;
  return `(data_offsets [${begin}, ${begin + tensor.length}])`;
}

function fsReason(err: unknown): string {
  // Node's messages read "ENOENT: no such file or directory, open '/path'": keep what precedes the path.
  const message = err instanceof Error ? err.message : String(err);
  return clip(oneLine(message.split(", ")[0]!));
}
