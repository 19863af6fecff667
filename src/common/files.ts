// The compiler core reads a model's files and writes its ONNX files through these interfaces, never
// through a runtime's file system, so that the same code runs in Node (src/common/node-files.ts,
// over node:fs, refusing FIFOs and devices) and in a browser (over File/Blob objects, or over bytes
// already in memory: memoryModelFiles below).
//
// Reads are synchronous: the readers (safetensors headers, the pickle unpickler, lazily converted
// initializers) pull bytes in the middle of synchronous code. A browser implementation reads a
// Blob synchronously in a Web Worker with FileReaderSync (`reader.readAsArrayBuffer(blob.slice(a, b))`),
// or keeps small models in memory. Writes are asynchronous (ByteSink): the writer overlaps them.

/** A path that is not a regular file (a FIFO, a device, a socket, a folder), or larger than allowed. */
export class FileKindError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
    this.name = "FileKindError";
  }
}

/** Bytes of one file read at any position, on demand (a checkpoint's tensor ranges, external data). */
export interface ByteSource {
  /** How messages name it: a path in Node, the picked file's name in a browser. */
  readonly label: string;
  /**
   * Fills all of `target` with the bytes from `position` on. Throws when the source ends first
   * (a message naming `label` and the missing range).
   */
  readInto(target: Uint8Array, position: number): void;
}

/** A file of a ModelFiles opened for ranged reads (large checkpoints are never read whole). */
export interface OpenFile extends ByteSource {
  /** Size in bytes when it was opened; reads past it fail. */
  readonly size: number;
  close(): void;
}

/**
 * The files of one model folder, named by their path inside it with "/" separators
 * ("config.json", "1_Pooling/config.json"). Implementations refuse what is not a regular file
 * (Node: FIFOs, devices, folders) with an Error naming it, before reading a byte.
 */
export interface ModelFiles {
  /** How messages name the folder (a path in Node, the picked folder's name in a browser). */
  readonly label: string;
  /** How messages name one of its files: `label/name`. */
  path(name: string): string;
  /** Whether the folder has an entry `name` (a FIFO counts: reading it then gives the clear error). */
  has(name: string): boolean;
  /** The whole file, refused unread (an Error naming it) when larger than `maxBytes`. */
  read(name: string, maxBytes: number): Uint8Array;
  /** Opens `name` for ranged reads; the caller closes it. */
  open(name: string): OpenFile;
}

/**
 * Where the writer streams a file's bytes, in order from position 0. `write` may be called again
 * before an earlier write has settled (the ONNX writer keeps two in flight); `bytes` stays
 * untouched until its promise settles.
 */
export interface ByteSink {
  write(bytes: Uint8Array, position: number): Promise<void>;
  /**
   * A buffer of `size` bytes (contents undefined) that the writer fills and hands to `write`;
   * without it, a plain Uint8Array. Node's file sink gives Buffer.allocUnsafe buffers, which skip
   * the zero-filling a Uint8Array does (the writer overwrites every byte anyway).
   */
  allocate?(size: number): Uint8Array;
}

/** Fills `target` from `bytes` at `position`, or throws naming `label` when `bytes` ends first. */
function copyRange(bytes: Uint8Array, target: Uint8Array, position: number, label: string): void {
  if (position + target.byteLength > bytes.byteLength) {
    throw new Error(`${label} ends before byte ${position + target.byteLength} (it has ${bytes.byteLength})`);
  }
  target.set(bytes.subarray(position, position + target.byteLength));
}

/** An OpenFile over bytes in memory. */
export function memoryFile(bytes: Uint8Array, label: string): OpenFile {
  return { label, size: bytes.byteLength, readInto: (target, position) => copyRange(bytes, target, position, label), close: () => {} };
}

/** Ranges of file `name` of `files`, each read opening it anew (the source outlives any one open file). */
export function fileSource(files: ModelFiles, name: string): ByteSource {
  return {
    label: files.path(name),
    readInto: (target, position) => {
      const file = files.open(name);
      try {
        file.readInto(target, position);
      } finally {
        file.close();
      }
    },
  };
}

/** `name` inside folder `dir` of a ModelFiles ("" is the folder itself), "/"-separated. */
export function joinName(dir: string, name: string): string {
  const folder = dir.replace(/[\\/]+$/, "");
  return folder === "" ? name : `${folder}/${name}`;
}

/** The last component of a path or file name ("models/bge/model.onnx" → "model.onnx"), as path.basename. */
export function fileName(path: string): string {
  const trimmed = path.replace(/[\\/]+$/, "");
  return trimmed.slice(Math.max(trimmed.lastIndexOf("/"), trimmed.lastIndexOf("\\")) + 1);
}

/** The files of folder `dir` of `files` (a sentence-transformers module folder such as "2_Dense"). */
export function subfolder(files: ModelFiles, dir: string): ModelFiles {
  if (joinName(dir, "") === "") return files;
  const inner = (name: string) => joinName(dir, name);
  return {
    label: files.path(dir),
    path: (name) => files.path(inner(name)),
    has: (name) => files.has(inner(name)),
    read: (name, maxBytes) => files.read(inner(name), maxBytes),
    open: (name) => files.open(inner(name)),
  };
}

/** ModelFiles over file contents in memory (`files`: name → bytes); `label` names the folder. */
export function memoryModelFiles(files: ReadonlyMap<string, Uint8Array>, label: string): ModelFiles {
  const path = (name: string) => `${label}/${name}`;
  const bytesOf = (name: string): Uint8Array => {
    const bytes = files.get(name);
    if (!bytes) throw new Error(`${path(name)} does not exist`);
    return bytes;
  };
  return {
    label,
    path,
    has: (name) => files.has(name),
    read: (name, maxBytes) => {
      const bytes = bytesOf(name);
      if (bytes.byteLength > maxBytes) {
        throw new FileKindError(`${path(name)} is ${bytes.byteLength} bytes, more than the ${maxBytes} such a file may have`, path(name));
      }
      return bytes;
    },
    open: (name) => memoryFile(bytesOf(name), path(name)),
  };
}

/** A ByteSink collecting everything written, for encoding in memory. */
export class MemorySink implements ByteSink {
  private chunks: Uint8Array[] = [];
  private length = 0;

  async write(bytes: Uint8Array, position: number): Promise<void> {
    if (position !== this.length) throw new Error(`MemorySink takes bytes in order: got position ${position}, expected ${this.length}`);
    this.chunks.push(bytes.slice());
    this.length += bytes.byteLength;
  }

  /** Everything written, in one buffer. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, at);
      at += chunk.byteLength;
    }
    return out;
  }
}
