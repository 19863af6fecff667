// Reader for Hugging Face safetensors checkpoints, single-file or sharded (the writer, used by
// fixtures only, is src/fixtures/safetensors-writer.ts).
//
// Layout of one file: an 8-byte little-endian u64 N, N bytes of UTF-8 JSON header, then the data
// buffer. The header maps tensor names to {dtype, shape, data_offsets} (offsets relative to the
// data buffer) plus an optional "__metadata__" object of strings.
//
// Files may come from anywhere, so the header is validated completely before anything is trusted:
// every failure is a one-line WeightError naming the file, and no length taken from the file is
// used for an allocation before it has been checked against the real file size. Opening reads the
// header only; tensor bytes are read from the file each time a tensor is asked for. Files are
// read through ModelFiles (src/common/files.ts), never by path.
import { type ByteSource, FileKindError, type ModelFiles, type OpenFile, fileSource } from "../common/files.js";
import { HOST_IS_LITTLE_ENDIAN, littleEndianBytes, swapBytesInPlace } from "../common/byte-order.js";
import { bfloat16ArrayToFloat32, float16ArrayToFloat32 } from "../common/float16.js";
import {
  clip,
  describe,
  errorMessage,
  formatShape,
  fsReason,
  isNonNegativeSafeInteger,
  isPlainObject,
  kindOf,
  oneLine,
  quote,
} from "../common/messages.js";
import type { TensorBytes } from "../graph/ir.js";
import { firstNonFinite, firstNonFiniteBytes, float32At, nonFiniteWeightError } from "./finite.js";
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

export const LENGTH_PREFIX_BYTES = 8;
export const METADATA_KEY = "__metadata__";
const SUPPORTED_DTYPES = Object.keys(SAFETENSORS_DTYPE_BYTES).join(", ");

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
export function parseSafetensorsHeader(headerBytes: Uint8Array, fileSize: number, fileLabel: string): SafetensorsHeader {
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
    throw new WeightError(`${fileLabel} is truncated: header says ${headerLength} bytes but the file has ${fileSize}; re-download it`);
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
    const reason = clip(oneLine(errorMessage(err)));
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
  const invalid = (what: string) => new WeightError(`${fileLabel}: ${METADATA_KEY} ${what}; the file is corrupt — re-download it`);
  if (!isPlainObject(entry)) throw invalid(`is ${kindOf(entry)}, not an object of strings`);
  for (const [key, value] of Object.entries(entry)) {
    if (typeof value !== "string") throw invalid(`entry ${quote(key)} is ${describe(value)}, not a string`);
  }
  return { ...(entry as Record<string, string>) };
}

function parseTensorEntry(name: string, entry: unknown, dataStart: number, dataSize: number, fileLabel: string): SafetensorsTensor {
  const corrupt = (what: string) => new WeightError(`${fileLabel}: tensor ${quote(name)} ${what}; the file is corrupt — re-download it`);
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
export function tensorByteLength(shape: readonly number[], dtype: WeightDtype): number | undefined {
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
  /** How messages name the file (its path in Node). */
  readonly path: string;
  /** The file's byte ranges, readable after the file is closed (the writer copies tensors from it). */
  readonly source: ByteSource;
  readonly size: number;
  readonly tensors: ReadonlyMap<string, SafetensorsTensor>;
  readonly metadata: Readonly<Record<string, string>>;
  #file: OpenFile | undefined;

  private constructor(file: OpenFile, source: ByteSource, header: SafetensorsHeader) {
    this.path = file.label;
    this.source = source;
    this.#file = file;
    this.size = file.size;
    this.tensors = header.tensors;
    this.metadata = header.metadata;
  }

  /** Opens file `name` of `files` and reads its header only. */
  static open(files: ModelFiles, name: string): SafetensorsFile {
    const file = openCheckpointFile(files, name);
    try {
      const { size, label } = file;
      const prefix = readExactly(file, 0, Math.min(size, LENGTH_PREFIX_BYTES));
      const headerLength = readHeaderLength(prefix, size, label);
      const headerBytes = readExactly(file, 0, LENGTH_PREFIX_BYTES + headerLength);
      return new SafetensorsFile(file, fileSource(files, name), parseSafetensorsHeader(headerBytes, size, label));
    } catch (err) {
      file.close();
      throw err;
    }
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  /** The raw little-endian bytes of one tensor, read from the file now, in a fresh buffer. */
  readRaw(name: string): Uint8Array {
    const tensor = this.tensors.get(name);
    if (!tensor) throw new WeightError(`${this.path}: no tensor ${quote(name)} in this file`);
    if (this.#file === undefined) throw new WeightError(`${this.path}: file was closed; open it again to read ${quote(name)}`);
    return readExactly(this.#file, tensor.offset, tensor.length);
  }

  /** Every tensor's bytes lie in the file as they are. */
  fileRange(name: string): { offset: number; length: number } | undefined {
    const tensor = this.tensors.get(name);
    return tensor && { offset: tensor.offset, length: tensor.length };
  }

  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }
}

/** A checkpoint file that is a FIFO, a device, a folder or larger than allowed: refused unread, with what to do. */
function notAWeightsFile(error: FileKindError): WeightError {
  return new WeightError(`${error.message}; replace it with the model's real weights file`);
}

/** Opens a checkpoint file for ranged reads; what cannot be opened (missing, a FIFO…) is a WeightError naming it. */
export function openCheckpointFile(files: ModelFiles, name: string): OpenFile {
  try {
    return files.open(name);
  } catch (err) {
    if (err instanceof FileKindError) throw notAWeightsFile(err);
    throw new WeightError(`${files.path(name)}: cannot open (${fsReason(err)}); check the path`);
  }
}

/** Reads exactly `length` bytes at `position` into a fresh buffer; a short read means truncation. */
export function readExactly(file: OpenFile, position: number, length: number): Uint8Array {
  if (position + length > file.size) {
    throw new WeightError(
      `${file.label} is truncated: expected ${length} bytes at offset ${position} but the file has ${file.size}; re-download it`,
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(length);
  } catch {
    throw new WeightError(`${file.label}: cannot allocate ${length} bytes to read a tensor; the tensor is too large for this process`);
  }
  try {
    file.readInto(bytes, position);
  } catch (err) {
    throw new WeightError(
      `${file.label}: cannot read ${length} bytes at offset ${position} (${fsReason(err)}); the file is truncated or unreadable — re-download it`,
    );
  }
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// A checkpoint: one file or an index with shards

/** One file of a checkpoint as the shared store sees it (safetensors, pytorch_model.bin). */
export interface CheckpointFile {
  /** How messages name the file (its path in Node). */
  readonly path: string;
  /** The file's byte ranges for a writer copying tensors as they are. */
  readonly source: ByteSource;
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
  /** For messages: the weights' kind ("safetensors"). */
  kind: string;
  open(files: ModelFiles, name: string): F;
}

/** A WeightStore over checkpoint files: tensor name → the file holding it, read on demand. */
export class FileCheckpoint<F extends CheckpointFile> implements WeightStore {
  readonly source: string;
  /** The open files, as messages name them. */
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
   * Opens file `entry` of `files` — an index and its shards, or one file; without `entry` the
   * folder's single file, else its index — and says which file holds each tensor.
   */
  protected static openFiles<F extends CheckpointFile>(
    files: ModelFiles,
    entry: string | undefined,
    layout: CheckpointLayout<F>,
  ): { files: F[]; locations: Map<string, F> } {
    const target = entry ?? checkpointEntryFile(files, layout);
    if (target.endsWith(".index.json")) {
      const { shards, locations } = openIndexedShards(files, target, layout.open);
      return { files: [...shards.values()], locations };
    }
    const file = layout.open(files, target);
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

  finiteFloat32(name: string): Float32Array {
    const values = this.float32(name);
    const bad = firstNonFinite(values);
    if (bad >= 0) throw nonFiniteWeightError(this.#tensor(name).file.path, name, this.info(name).shape, bad, values[bad]!);
    return values;
  }

  /**
   * F32 tensors lying as they are in the file are handed out as file ranges (already
   * little-endian), checked to be finite by whoever reads them.
   */
  float32Bytes(name: string): TensorBytes {
    const { file, tensor } = this.#tensor(name);
    const range = tensor.dtype === "F32" ? file.fileRange(name) : undefined;
    if (range) {
      const check = (bytes: Uint8Array, fileOffset: number) => {
        const bad = firstNonFiniteBytes(bytes);
        if (bad >= 0)
          throw nonFiniteWeightError(file.path, name, tensor.shape, (fileOffset - range.offset) / 4 + bad, float32At(bytes, bad));
      };
      return { kind: "file", source: file.source, ...range, check };
    }
    const elements = tensor.shape.reduce((a, b) => a * b, 1);
    return { kind: "lazy", length: elements * 4, read: () => littleEndianBytes(this.finiteFloat32(name)) };
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
   * Opens a checkpoint of `files`: file `entry` (an index and its shards, or one .safetensors
   * file), or without it the folder's model.safetensors, else model.safetensors.index.json and
   * its shards. Reads headers only.
   */
  static open(files: ModelFiles, entry?: string): SafetensorsCheckpoint {
    const opened = FileCheckpoint.openFiles(files, entry, SAFETENSORS_LAYOUT);
    return new SafetensorsCheckpoint(entry === undefined ? files.label : files.path(entry), opened.files, opened.locations);
  }
}

const SAFETENSORS_LAYOUT: CheckpointLayout<SafetensorsFile> = {
  singleFile: SAFETENSORS_SINGLE_FILE,
  indexFile: SAFETENSORS_INDEX_FILE,
  kind: "safetensors",
  open: (files, name) => SafetensorsFile.open(files, name),
};

/** The file a checkpoint folder is read from: its single file, else its index. */
function checkpointEntryFile(files: ModelFiles, layout: CheckpointLayout<CheckpointFile>): string {
  const found = [layout.singleFile, layout.indexFile].find((name) => files.has(name));
  if (found !== undefined) return found;
  throw new WeightError(
    `${files.label}: found neither ${layout.singleFile} nor ${layout.indexFile}; the folder must hold the model's ${layout.kind} weights`,
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
function readWeightMap(files: ModelFiles, indexName: string): Map<string, string> {
  const indexPath = files.path(indexName);
  const invalid = (what: string) => new WeightError(`${indexPath}: ${what}; the index is corrupt — re-download the checkpoint`);
  if (!files.has(indexName)) throw new WeightError(`${indexPath}: no such file; point at a model folder or a weights file`);
  let bytes: Uint8Array;
  try {
    bytes = files.read(indexName, MAX_INDEX_BYTES);
  } catch (err) {
    if (err instanceof FileKindError) throw notAWeightsFile(err);
    throw new WeightError(`${indexPath}: cannot open (${fsReason(err)}); check the path`);
  }
  let index: unknown;
  try {
    index = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw invalid(`is not valid JSON (${clip(oneLine(errorMessage(err)))})`);
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
  files: ModelFiles,
  indexName: string,
  open: (files: ModelFiles, name: string) => F,
): { shards: Map<string, F>; locations: Map<string, F> } {
  const weightMap = readWeightMap(files, indexName);
  const indexPath = files.path(indexName);
  const folder = indexName.includes("/") ? indexName.slice(0, indexName.lastIndexOf("/") + 1) : "";
  const shards = new Map<string, F>();
  try {
    for (const shardName of new Set(weightMap.values())) {
      shards.set(shardName, open(files, shardFile(files, folder + shardName, shardName, indexPath)));
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

/** The file name of a shard named by an index, checked to stay in the folder and to exist. */
function shardFile(files: ModelFiles, name: string, shardName: string, indexPath: string): string {
  if (!staysInFolder(name)) {
    throw new WeightError(
      `${indexPath}: shard ${quote(shardName)} is outside the checkpoint folder; the index is corrupt — re-download the checkpoint`,
    );
  }
  if (!files.has(name)) {
    throw new WeightError(
      `${indexPath}: shard ${quote(shardName)} listed in weight_map does not exist (expected ${files.path(name)}); download every shard of the checkpoint`,
    );
  }
  return name;
}

/** Whether a relative file name ("a/../b.safetensors") stays inside its folder: not absolute, never climbing above it. */
function staysInFolder(name: string): boolean {
  if (/^([\\/]|[A-Za-z]:)/.test(name)) return false;
  let depth = 0;
  for (const part of name.split(/[\\/]/)) {
    if (part === "..") depth--;
    else if (part !== "" && part !== ".") depth++;
    if (depth < 0) return false;
  }
  return true;
}

function misplacedTensorError(
  tensor: string,
  shardName: string,
  shards: ReadonlyMap<string, CheckpointFile>,
  indexPath: string,
): WeightError {
  const actual = [...shards.entries()].find(([, file]) => file.tensors.has(tensor))?.[0];
  const whereItIs = actual === undefined ? "no shard contains it" : `it is in ${quote(actual)}`;
  return new WeightError(
    `${indexPath}: weight_map puts tensor ${quote(tensor)} in shard ${quote(shardName)}, but that shard does not contain it (${whereItIs}); the index and shards do not match — re-download the checkpoint`,
  );
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

function formatRange(tensor: SafetensorsTensor, dataStart: number): string {
  const begin = tensor.offset - dataStart;
  return `(data_offsets [${begin}, ${begin + tensor.length}])`;
}
