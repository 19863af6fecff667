// pytorch_model.bin checkpoints (torch.save ≥ 1.6), single or sharded, read without Python.
//
// A torch.save file is a zip: <archive>/data.pkl is a pickle of the state dict, in which each
// tensor is `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, …)` and each storage
// a persistent id ('storage', torch.FloatStorage, key, location, numel) whose little-endian
// bytes are the entry <archive>/data/<key>. Pickles can run arbitrary code when Python loads
// them; here the restricted reader in pickle.ts builds data only, and the allow-list below
// admits exactly the globals a state dict needs. Anything else is refused, never executed.
import { type AllowedGlobal, PickleTuple, kind, unpickle } from "./pickle.js";
import { type CheckpointLayout, FileCheckpoint, SAFETENSORS_DTYPE_BYTES, openCheckpointFile, readExactly } from "./safetensors.js";
import { type ByteSource, type ModelFiles, type OpenFile, fileSource } from "../common/files.js";
import { quote } from "../common/messages.js";
import { crc32 } from "./inflate.js";
import { type WeightDtype, WeightError, type WeightInfo } from "./weights.js";
import { type ZipEntry, ZIP_STORED, looksLikeZip, readZipDirectory, readZipEntry } from "./zip.js";

export const PYTORCH_BIN_FILE = "pytorch_model.bin";
export const PYTORCH_BIN_INDEX_FILE = "pytorch_model.bin.index.json";

/** torch.save's storage classes, by element type. */
export const TORCH_STORAGE_DTYPES: Readonly<Record<string, WeightDtype>> = {
  DoubleStorage: "F64",
  FloatStorage: "F32",
  HalfStorage: "F16",
  BFloat16Storage: "BF16",
  LongStorage: "I64",
  IntStorage: "I32",
  ShortStorage: "I16",
  CharStorage: "I8",
  ByteStorage: "U8",
  BoolStorage: "BOOL",
};

const ADVICE = "convert the checkpoint to safetensors with a tool you trust, or download the model's model.safetensors";
const ALLOWED_SUMMARY = "collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_tensor / _rebuild_parameter, torch.*Storage";
/** data.pkl of a state dict is a few MB even for large models. */
const MAX_PICKLE_BYTES = 256 * 1024 * 1024;

/** One tensor of a torch checkpoint: a strided view of a storage entry. */
export interface TorchTensorInfo extends WeightInfo {
  /** The zip entry holding the storage. */
  storage: ZipEntry;
  /** In elements, as torch counts them. */
  storageOffset: number;
  stride: number[];
  contiguous: boolean;
}

// ---------------------------------------------------------------------------------------------
// What the pickle may build

/** A storage class named by GLOBAL (torch.FloatStorage…); dtype undefined: not supported. */
class StorageType implements AllowedGlobal {
  readonly module = "torch";
  constructor(
    readonly name: string,
    readonly dtype: WeightDtype | undefined,
  ) {}
}

class StorageRef {
  constructor(
    readonly key: string,
    readonly dtype: WeightDtype,
    /** Elements. */
    readonly numel: number,
  ) {}
}

class RebuiltTensor {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

/** The globals a state dict needs, as data builders; everything else is refused. */
function torchGlobals(label: string): (module: string, name: string) => AllowedGlobal | undefined {
  const corrupt = (what: string) => new WeightError(`${label}: ${what}; the checkpoint is corrupt — re-download it or ${ADVICE}`);
  const tensor = (value: unknown, where: string): RebuiltTensor => {
    if (value instanceof RebuiltTensor) return value;
    throw corrupt(`${where} expects a tensor, not ${kind(value)}`);
  };
  const rebuildTensor = (args: readonly unknown[], min: number, max: number, where: string): RebuiltTensor => {
    if (args.length < min || args.length > max) throw corrupt(`${where} takes ${min}-${max} arguments, not ${args.length}`);
    const [storage, offset, size, stride] = args;
    if (!(storage instanceof StorageRef)) throw corrupt(`${where}'s first argument is ${kind(storage)}, not a storage`);
    if (!isCount(offset)) throw corrupt(`${where} has storage offset ${String(offset)}, not a non-negative integer`);
    const shape = counts(size);
    const strides = counts(stride);
    if (!shape || !strides || shape.length !== strides.length)
      throw corrupt(`${where} has size ${kind(size)} and stride ${kind(stride)}, not two equal-length tuples of non-negative integers`);
    return new RebuiltTensor(storage, offset, shape, strides);
  };
  const allowed = new Map<string, AllowedGlobal>([
    [
      "collections.OrderedDict",
      global("collections", "OrderedDict", (args) => {
        if (args.length !== 0) throw corrupt(`OrderedDict is built with ${args.length} arguments; torch.save writes none`);
        return new Map();
      }),
    ],
    // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
    [
      "torch._utils._rebuild_tensor_v2",
      global("torch._utils", "_rebuild_tensor_v2", (args) => rebuildTensor(args, 6, 7, "_rebuild_tensor_v2")),
    ],
    ["torch._utils._rebuild_tensor", global("torch._utils", "_rebuild_tensor", (args) => rebuildTensor(args, 4, 4, "_rebuild_tensor"))],
    // (data, requires_grad, backward_hooks[, state]): a Parameter is its data here.
    ["torch._utils._rebuild_parameter", global("torch._utils", "_rebuild_parameter", (args) => tensor(args[0], "_rebuild_parameter"))],
    [
      "torch._utils._rebuild_parameter_with_state",
      global("torch._utils", "_rebuild_parameter_with_state", (args) => tensor(args[0], "_rebuild_parameter_with_state")),
    ],
  ]);
  return (module, name) => {
    if (module === "torch" && /^[A-Za-z0-9]+Storage$/.test(name)) return new StorageType(name, TORCH_STORAGE_DTYPES[name]);
    return allowed.get(`${module}.${name}`);
  };
}

function global(module: string, name: string, call: (args: readonly unknown[]) => unknown): AllowedGlobal {
  return { module, name, call };
}

/** ('storage', torch.XStorage, key, location, numel) → a storage reference. */
function storageLoader(label: string): (pid: unknown) => StorageRef {
  const seen = new Map<string, StorageRef>();
  return (pid) => {
    const items = pid instanceof PickleTuple ? pid.items : [];
    const [tag, type, key, location, numel] = items;
    if (
      items.length !== 5 ||
      tag !== "storage" ||
      !(type instanceof StorageType) ||
      typeof key !== "string" ||
      typeof location !== "string" ||
      !isCount(numel)
    ) {
      throw new WeightError(
        `${label}: a persistent id is ${kind(pid)}, not ('storage', type, key, location, numel); this is not a torch.save state dict — ${ADVICE}`,
      );
    }
    if (!type.dtype) {
      throw new WeightError(
        `${label}: storage ${quote(key)} is a torch.${type.name}, an element type this reader does not support (supported: ${Object.keys(TORCH_STORAGE_DTYPES).join(", ")}); ${ADVICE}`,
      );
    }
    const ref = new StorageRef(key, type.dtype, numel);
    const previous = seen.get(key);
    if (previous && (previous.dtype !== ref.dtype || previous.numel !== ref.numel)) {
      throw new WeightError(
        `${label}: storage ${quote(key)} is declared twice with different types or sizes; the checkpoint is corrupt — re-download it`,
      );
    }
    seen.set(key, ref);
    return previous ?? ref;
  };
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function counts(value: unknown): number[] | undefined {
  if (!(value instanceof PickleTuple) || !value.items.every(isCount)) return undefined;
  return value.items.map((n) => (n as number) + 0);
}

// ---------------------------------------------------------------------------------------------
// One file

/** Parses a torch.save zip: its pickle (restricted) and the storage entries it refers to. */
export function parseTorchArchive(source: OpenFile): Map<string, TorchTensorInfo> {
  const entries = readZipDirectory(source);
  const pickles = [...entries.values()].filter((e) => /^[^/]+\/data\.pkl$/.test(e.name));
  if (pickles.length !== 1) {
    const why = pickles.length === 0 ? "has no <archive>/data.pkl" : "has several <archive>/data.pkl entries";
    throw new WeightError(
      `${source.label}: this zip ${why}, so it is not a torch.save checkpoint (TorchScript archives are not weight checkpoints either); ${ADVICE}`,
    );
  }
  const pickleEntry = pickles[0]!;
  const archive = pickleEntry.name.slice(0, -"data.pkl".length);
  checkByteOrder(source, entries.get(`${archive}byteorder`));
  if (pickleEntry.size > MAX_PICKLE_BYTES)
    throw new WeightError(`${source.label}: data.pkl is ${pickleEntry.size} bytes, more than a state dict's; ${ADVICE}`);
  const pickle = readZipEntry(source, pickleEntry);
  if (pickleEntry.crc32 !== 0 && crc32(pickle) !== pickleEntry.crc32) {
    // torch may skip computing CRCs (then 0); when it wrote one it must match.
    throw new WeightError(`${source.label}: data.pkl fails its CRC check; the checkpoint is corrupt — re-download it`);
  }
  const label = `${source.label} (data.pkl)`;
  const root = unpickle(pickle, {
    label,
    findGlobal: torchGlobals(label),
    persistentLoad: storageLoader(label),
    allowedSummary: ALLOWED_SUMMARY,
    advice: ADVICE,
  });
  if (!(root instanceof Map))
    throw new WeightError(`${label}: holds ${kind(root)}, not a state dict (a dict of tensor names to tensors); ${ADVICE}`);
  const tensors = new Map<string, TorchTensorInfo>();
  for (const [name, value] of root) {
    if (!(value instanceof RebuiltTensor)) continue; // non-tensor entries (e.g. _extra_state) are not weights
    if (typeof name !== "string")
      throw new WeightError(`${label}: a tensor is keyed by ${kind(name)}, not a name; this is not a state dict — ${ADVICE}`);
    tensors.set(name, locateTensor(source, entries, archive, name, value));
  }
  if (tensors.size === 0) throw new WeightError(`${label}: the state dict holds no tensors; ${ADVICE}`);
  return tensors;
}

function checkByteOrder(source: OpenFile, entry: ZipEntry | undefined): void {
  if (!entry) return; // torch < 2.1 wrote none: little-endian
  const order = entry.size <= 16 ? new TextDecoder().decode(readZipEntry(source, entry)).trim() : "?";
  if (order !== "little")
    throw new WeightError(`${source.label}: byteorder is ${quote(order)}; only little-endian checkpoints are supported — ${ADVICE}`);
}

/** Checks a tensor's view against its storage entry and says where its bytes are. */
function locateTensor(
  source: OpenFile,
  entries: Map<string, ZipEntry>,
  archive: string,
  name: string,
  tensor: RebuiltTensor,
): TorchTensorInfo {
  const { storage, offset, shape, stride } = tensor;
  const corrupt = (what: string) =>
    new WeightError(`${source.label}: tensor ${quote(name)} ${what}; the checkpoint is corrupt — re-download it`);
  const entry = entries.get(`${archive}data/${storage.key}`);
  if (!entry) throw corrupt(`refers to storage ${quote(storage.key)}, but there is no ${quote(`${archive}data/${storage.key}`)} entry`);
  const width = SAFETENSORS_DTYPE_BYTES[storage.dtype];
  if (storage.numel * width !== entry.size)
    throw corrupt(`has a storage of ${storage.numel} × ${storage.dtype} but the entry holds ${entry.size} bytes`);
  // More elements than the storage holds means overlapping (broadcast) strides: never a weight,
  // and reading one could allocate without bound.
  if (!shape.includes(0) && !shape.every((_, i) => elementCount(shape.slice(0, i + 1)) <= storage.numel)) {
    throw new WeightError(
      `${source.label}: tensor ${quote(name)} views ${elementCount(shape)} elements of a ${storage.numel}-element storage (overlapping strides); ` +
        `weights are never stored that way — ${ADVICE}`,
    );
  }
  const last = lastElement(offset, shape, stride);
  if (last === undefined || last >= storage.numel) {
    throw corrupt(
      `(offset ${offset}, size [${shape.join(", ")}], stride [${stride.join(", ")}]) reaches past its storage of ${storage.numel} elements`,
    );
  }
  return { name, dtype: storage.dtype, shape, storage: entry, storageOffset: offset, stride, contiguous: isContiguous(shape, stride) };
}

/** Storage index of the view's last element (offset − 1 for an empty view); undefined past 2^53. */
function lastElement(offset: number, shape: readonly number[], stride: readonly number[]): number | undefined {
  if (shape.includes(0)) return offset - 1;
  let last = offset;
  for (let i = 0; i < shape.length; i++) {
    last += (shape[i]! - 1) * stride[i]!;
    if (!Number.isSafeInteger(last)) return undefined;
  }
  return last;
}

/** Row-major with no gaps (strides of size-1 dimensions do not matter, as in torch). */
function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] === 1) continue;
    if (stride[i] !== expected) return false;
    expected *= shape[i]!;
  }
  return true;
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** An open pytorch_model.bin: its pickle parsed, tensor bytes read on demand. */
export class PytorchBinFile {
  /** How messages name the file (its path in Node). */
  readonly path: string;
  /** The file's byte ranges, readable after the file is closed (the writer copies tensors from it). */
  readonly source: ByteSource;
  readonly tensors: ReadonlyMap<string, TorchTensorInfo>;
  readonly #file: OpenFile;

  private constructor(file: OpenFile, source: ByteSource, tensors: Map<string, TorchTensorInfo>) {
    this.path = file.label;
    this.source = source;
    this.#file = file;
    this.tensors = tensors;
  }

  /** Opens file `name` of `files` and parses its pickle (no tensor is read). */
  static open(files: ModelFiles, name: string): PytorchBinFile {
    const source = openCheckpointFile(files, name);
    try {
      checkContainer(source);
      return new PytorchBinFile(source, fileSource(files, name), parseTorchArchive(source));
    } catch (error) {
      source.close();
      throw error;
    }
  }

  /** The tensor's elements, row-major, as little-endian bytes of its dtype (a fresh buffer). */
  readRaw(name: string): Uint8Array {
    return readTensorBytes(this.#file, this.#tensor(name));
  }

  /** Where the tensor's bytes lie in the file, when it is stored uncompressed and contiguous. */
  fileRange(name: string): { offset: number; length: number } | undefined {
    const t = this.#tensor(name);
    if (!t.contiguous || t.storage.method !== ZIP_STORED) return undefined;
    const width = SAFETENSORS_DTYPE_BYTES[t.dtype];
    return { offset: t.storage.dataOffset + t.storageOffset * width, length: elementCount(t.shape) * width };
  }

  close(): void {
    this.#file.close();
  }

  #tensor(name: string): TorchTensorInfo {
    const tensor = this.tensors.get(name);
    if (!tensor) throw new WeightError(`${this.path}: no tensor ${quote(name)} in this file`);
    return tensor;
  }
}

/** Reads a tensor's elements from a parsed archive, gathering strided views into row-major order. */
export function readTensorBytes(source: OpenFile, t: TorchTensorInfo): Uint8Array {
  const width = SAFETENSORS_DTYPE_BYTES[t.dtype];
  const count = elementCount(t.shape);
  if (count === 0) return new Uint8Array(0);
  const span = lastElement(t.storageOffset, t.shape, t.stride)! - t.storageOffset + 1;
  const bytes =
    t.storage.method === ZIP_STORED
      ? readExactly(source, t.storage.dataOffset + t.storageOffset * width, span * width)
      : readZipEntry(source, t.storage).subarray(t.storageOffset * width, (t.storageOffset + span) * width);
  return t.contiguous ? bytes : gather(bytes, t.shape, t.stride, width);
}

/** Copies a strided view (starting at element 0 of `bytes`) into a fresh row-major buffer. */
function gather(bytes: Uint8Array, shape: readonly number[], stride: readonly number[], width: number): Uint8Array {
  const source = elementView(bytes.byteOffset % width === 0 ? bytes : bytes.slice(), width);
  const outBytes = new Uint8Array(elementCount(shape) * width);
  const out = elementView(outBytes, width);
  const rank = shape.length;
  const inner = shape[rank - 1]!;
  const innerStride = stride[rank - 1]!;
  const index = new Array<number>(rank - 1).fill(0);
  let at = 0;
  let base = 0;
  for (let done = 0; done < out.length; done += inner) {
    for (let j = 0, from = base; j < inner; j++, from += innerStride) out[at++] = source[from]!;
    // Advance the row-major counter over the outer dimensions, moving `base` by their strides.
    for (let d = rank - 2; d >= 0; d--) {
      index[d]!++;
      base += stride[d]!;
      if (index[d]! < shape[d]!) break;
      base -= stride[d]! * shape[d]!;
      index[d] = 0;
    }
  }
  return outBytes;
}

/** Bytes as same-width unsigned integers: copying those moves every bit pattern (NaNs included). */
function elementView(bytes: Uint8Array, width: number): { length: number; [index: number]: number | bigint } {
  const { buffer, byteOffset, byteLength } = bytes;
  switch (width) {
    case 1:
      return bytes;
    case 2:
      return new Uint16Array(buffer, byteOffset, byteLength / 2);
    case 4:
      return new Uint32Array(buffer, byteOffset, byteLength / 4);
    default:
      return new BigUint64Array(buffer, byteOffset, byteLength / 8);
  }
}

/** Refuses what is not a torch.save zip, saying what it is when it can tell. */
function checkContainer(source: OpenFile): void {
  const head = readExactly(source, 0, Math.min(source.size, 512));
  if (looksLikeZip(head)) return;
  const legacy = head[0] === 0x80 || (head.length >= 262 && new TextDecoder().decode(head.subarray(257, 262)) === "ustar");
  if (legacy) {
    throw new WeightError(
      `${source.label} is a legacy PyTorch checkpoint (saved by torch < 1.6, or with _use_new_zipfile_serialization=False), which this reader does not load; ` +
        `re-save it with a current torch or ${ADVICE}`,
    );
  }
  throw new WeightError(`${source.label} is not a PyTorch checkpoint (no zip container); re-download it or ${ADVICE}`);
}

// ---------------------------------------------------------------------------------------------
// A checkpoint: one file or an index with shards

const BIN_LAYOUT: CheckpointLayout<PytorchBinFile> = {
  singleFile: PYTORCH_BIN_FILE,
  indexFile: PYTORCH_BIN_INDEX_FILE,
  kind: "PyTorch",
  open: (files, name) => PytorchBinFile.open(files, name),
};

/** pytorch_model.bin, or pytorch_model.bin.index.json and its shards, as a WeightStore. */
export class PytorchBinCheckpoint extends FileCheckpoint<PytorchBinFile> {
  /**
   * Opens a checkpoint of `files`: file `entry` (an index and its shards, or one .bin file), or
   * without it the folder's pytorch_model.bin, else its index and shards.
   */
  static open(files: ModelFiles, entry?: string): PytorchBinCheckpoint {
    const opened = FileCheckpoint.openFiles(files, entry, BIN_LAYOUT);
    return new PytorchBinCheckpoint(entry === undefined ? files.label : files.path(entry), opened.files, opened.locations);
  }
}
