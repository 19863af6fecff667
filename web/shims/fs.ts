// node:fs for the browser build: an in-memory file system holding the model the user picked and
// everything the export writes, with the calls the compiler makes (sync, plus the few
// fs/promises ones in promises.ts). Paths are POSIX; the working folder is "/".
import { Buffer } from "buffer";
import { dirname, resolve } from "./path.js";

interface FileEntry {
  data: Uint8Array;
  size: number;
  mtimeMs: number;
  /** Fixed for the file's life (renames keep it), as an inode. */
  ino: number;
  /** Bumped by every change: stands for the nanosecond change time the verified-files memo compares. */
  changes: number;
}

let nextIno = 1;
function newEntry(data: Uint8Array, size: number): FileEntry {
  return { data, size, mtimeMs: Date.now(), ino: nextIno++, changes: 0 };
}

const files = new Map<string, FileEntry>();
const folders = new Set<string>(["/"]);
const descriptors = new Map<number, string>();
let nextDescriptor = 3;

export const constants = { O_RDONLY: 0, O_WRONLY: 1, O_RDWR: 2, O_CREAT: 64, O_EXCL: 128, O_NONBLOCK: 2048, COPYFILE_EXCL: 1 };

function failure(code: string, call: string, path: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`${code}: ${call} '${path}'`);
  error.code = code;
  error.path = path;
  error.syscall = call;
  return error;
}

export class Stats {
  constructor(
    private readonly folder: boolean,
    readonly size: number,
    readonly mtimeMs: number,
    readonly ino = 0,
    private readonly changes = 0,
  ) {}
  readonly dev = 1;
  get mtimeNs(): bigint {
    return BigInt(Math.round(this.mtimeMs)) * 1_000_000n;
  }
  get ctimeNs(): bigint {
    return BigInt(this.changes);
  }
  readonly nlink = 1;
  get mtime(): Date {
    return new Date(this.mtimeMs);
  }
  isFile(): boolean {
    return !this.folder;
  }
  isDirectory(): boolean {
    return this.folder;
  }
  isSymbolicLink(): boolean {
    return false;
  }
  isFIFO(): boolean {
    return false;
  }
  isSocket(): boolean {
    return false;
  }
  isBlockDevice(): boolean {
    return false;
  }
  isCharacterDevice(): boolean {
    return false;
  }
}

function fileAt(path: string, call: string): FileEntry {
  const at = resolve(path);
  const file = files.get(at);
  if (file) return file;
  throw failure(folders.has(at) ? "EISDIR" : "ENOENT", call, path);
}

function parentMustExist(path: string, call: string): void {
  const parent = dirname(resolve(path));
  if (!folders.has(parent)) throw failure(files.has(parent) ? "ENOTDIR" : "ENOENT", call, path);
}

/** The bytes of a file (a view: copy before transferring it). */
export function fileBytes(path: string): Uint8Array {
  const file = fileAt(path, "open");
  return file.data.subarray(0, file.size);
}

/** Writes `bytes` as the file `path`, creating its folders (the worker's way in). */
export function putFile(path: string, bytes: Uint8Array): void {
  mkdirSync(dirname(resolve(path)), { recursive: true });
  files.set(resolve(path), newEntry(bytes, bytes.length));
}

/** Writes `bytes` at `position` of the file, growing it. */
export function writeAt(path: string, bytes: Uint8Array, position: number): void {
  const file = fileAt(path, "write");
  const end = position + bytes.length;
  if (end > file.data.length) {
    const grown = new Uint8Array(Math.max(end, file.data.length * 2, 1 << 16));
    grown.set(file.data.subarray(0, file.size));
    file.data = grown;
  }
  file.data.set(bytes, position);
  file.size = Math.max(file.size, end);
  file.mtimeMs = Date.now();
  file.changes++;
}

export function existsSync(path: string): boolean {
  const at = resolve(path);
  return files.has(at) || folders.has(at);
}

export function statSync(path: string, options?: { throwIfNoEntry?: boolean }): Stats | undefined {
  const at = resolve(path);
  if (folders.has(at)) return new Stats(true, 4096, 0);
  const file = files.get(at);
  if (file) return new Stats(false, file.size, file.mtimeMs, file.ino, file.changes);
  if (options?.throwIfNoEntry === false) return undefined;
  throw failure("ENOENT", "stat", path);
}

export const lstatSync = statSync;

/** Paths here have no links: the resolved path of an existing file or folder. */
export function realpathSync(path: string): string {
  if (!existsSync(path)) throw failure("ENOENT", "realpath", path);
  return resolve(path);
}

export function statfsSync(path: string): never {
  throw failure("ENOSYS", "statfs", path);
}

export function readlinkSync(path: string): never {
  throw failure("EINVAL", "readlink", path);
}

export function symlinkSync(_target: string, path: string): never {
  throw failure("EPERM", "symlink", path);
}

export function utimesSync(path: string, _atime: unknown, mtime: Date | number): void {
  const file = fileAt(path, "utime");
  file.mtimeMs = typeof mtime === "number" ? mtime * 1000 : mtime.getTime();
  file.changes++;
}

export function openSync(path: string, flags: number | string = "r"): number {
  const reading = flags === "r" || flags === constants.O_RDONLY || flags === (constants.O_RDONLY | constants.O_NONBLOCK);
  if (reading) fileAt(path, "open");
  else createForWriting(path, String(flags).includes("x") || (typeof flags === "number" && (flags & constants.O_EXCL) !== 0));
  const fd = nextDescriptor++;
  descriptors.set(fd, resolve(path));
  return fd;
}

/** An empty file at `path` for writing (`exclusive`: it must not exist yet). */
export function createForWriting(path: string, exclusive: boolean): void {
  parentMustExist(path, "open");
  const at = resolve(path);
  if (folders.has(at)) throw failure("EISDIR", "open", path);
  if (exclusive && files.has(at)) throw failure("EEXIST", "open", path);
  files.set(at, newEntry(new Uint8Array(0), 0));
}

function descriptorPath(fd: number): string {
  const path = descriptors.get(fd);
  if (path === undefined) throw failure("EBADF", "read", String(fd));
  return path;
}

export function fstatSync(fd: number): Stats {
  return statSync(descriptorPath(fd))!;
}

export function readSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null): number {
  const bytes = fileBytes(descriptorPath(fd));
  const from = position ?? 0;
  const chunk = bytes.subarray(from, Math.min(bytes.length, from + length));
  buffer.set(chunk, offset);
  return chunk.length;
}

export function writeSync(fd: number, bytes: Uint8Array, offset = 0, length = bytes.length - offset, position?: number | null): number {
  const path = descriptorPath(fd);
  writeAt(path, bytes.subarray(offset, offset + length), position ?? fileBytes(path).length);
  return length;
}

export function closeSync(fd: number): void {
  descriptors.delete(fd);
}

export function readFileSync(path: string | number, options?: string | { encoding?: string }): Buffer | string {
  const bytes = fileBytes(typeof path === "number" ? descriptorPath(path) : path);
  const encoding = typeof options === "string" ? options : options?.encoding;
  return encoding ? new TextDecoder().decode(bytes) : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function writeFileSync(path: string, data: string | Uint8Array, options?: { flag?: string }): void {
  createForWriting(path, options?.flag?.includes("x") ?? false);
  writeAt(path, typeof data === "string" ? new TextEncoder().encode(data) : data.slice(), 0);
}

export function copyFileSync(from: string, to: string): void {
  writeFileSync(to, fileBytes(from));
}

export function mkdirSync(path: string, options?: { recursive?: boolean }): string | undefined {
  const at = resolve(path);
  if (folders.has(at)) {
    if (options?.recursive) return undefined;
    throw failure("EEXIST", "mkdir", path);
  }
  if (files.has(at)) throw failure("EEXIST", "mkdir", path);
  if (options?.recursive) mkdirSync(dirname(at), options);
  else parentMustExist(at, "mkdir");
  folders.add(at);
  return at;
}

function children(folder: string): string[] {
  const prefix = folder === "/" ? "/" : `${folder}/`;
  return [...folders, ...files.keys()].filter((p) => p !== folder && p.startsWith(prefix) && !p.slice(prefix.length).includes("/"));
}

export function readdirSync(path: string, options?: { recursive?: boolean }): string[] {
  const at = resolve(path);
  if (!folders.has(at)) throw failure(files.has(at) ? "ENOTDIR" : "ENOENT", "scandir", path);
  const prefix = at === "/" ? "/" : `${at}/`;
  const direct = children(at);
  const all = options?.recursive ? [...folders, ...files.keys()].filter((p) => p !== at && p.startsWith(prefix)) : direct;
  return all.map((p) => p.slice(prefix.length)).sort();
}

export function rmSync(path: string, options?: { recursive?: boolean; force?: boolean }): void {
  const at = resolve(path);
  if (files.delete(at)) return;
  if (!folders.has(at)) {
    if (options?.force) return;
    throw failure("ENOENT", "rm", path);
  }
  if (!options?.recursive) throw failure("EISDIR", "rm", path);
  const prefix = `${at}/`;
  for (const file of [...files.keys()]) if (file.startsWith(prefix)) files.delete(file);
  for (const folder of [...folders]) if (folder.startsWith(prefix)) folders.delete(folder);
  folders.delete(at);
}

export function rmdirSync(path: string): void {
  const at = resolve(path);
  if (!folders.has(at)) throw failure("ENOENT", "rmdir", path);
  if (children(at).length > 0) throw failure("ENOTEMPTY", "rmdir", path);
  folders.delete(at);
}

export function renameSync(from: string, to: string): void {
  const source = resolve(from);
  const target = resolve(to);
  parentMustExist(target, "rename");
  const file = files.get(source);
  if (file) {
    if (folders.has(target)) throw failure("EISDIR", "rename", to);
    files.delete(source);
    files.set(target, file);
    return;
  }
  if (!folders.has(source)) throw failure("ENOENT", "rename", from);
  if (files.has(target) || (folders.has(target) && children(target).length > 0)) throw failure("ENOTEMPTY", "rename", to);
  const prefix = `${source}/`;
  const moved = (p: string) => target + p.slice(source.length);
  for (const [p, entry] of [...files]) if (p.startsWith(prefix)) files.delete(p) && files.set(moved(p), entry);
  for (const p of [...folders]) if (p === source || p.startsWith(prefix)) folders.delete(p) && folders.add(moved(p));
}

type StreamEvent = "data" | "error" | "end";

/** The whole file as one chunk, delivered once the caller has subscribed. */
export function createReadStream(path: string): { on(event: StreamEvent, listener: (value?: unknown) => void): unknown } {
  const listeners: Partial<Record<StreamEvent, (value?: unknown) => void>> = {};
  setTimeout(() => {
    try {
      listeners.data?.(fileBytes(path));
      listeners.end?.();
    } catch (error) {
      listeners.error?.(error);
    }
  });
  const stream = {
    on(event: StreamEvent, listener: (value?: unknown) => void) {
      listeners[event] = listener;
      return stream;
    },
  };
  return stream;
}
