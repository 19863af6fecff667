// Vector files that `embed --output` writes as the vectors come (any number of rows, bounded
// memory), and reads back to resume one a kill left behind:
//   .jsonl  one vector per line: [x, …], or {"id": …, "embedding": [x, …]} for JSONL input
//   .npy    NumPy: float32 '<f4', int8 '|i1', binary '|u1' (packed sign bits), shape (count, width)
//   other   raw rows after one JSON header line (format, dtype, width, count and the settings)
// The file grows as <output>.partial and is renamed to <output> when the last row is in. The
// count of .npy and raw files sits in a fixed-width header, patched once at the end (a header
// written first cannot know the count of a stream; counting first would read the input twice and
// cannot be done for stdin); a partial file's rows are counted from its size instead.
import { closeSync, existsSync, ftruncateSync, openSync, readSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { extname } from "node:path";
import { ExportError, fileSystemError } from "../common/errors.js";
import { isPlainObject } from "../common/messages.js";

export const VECTOR_FORMATS = ["jsonl", "npy", "raw"] as const;
export type VectorFormat = (typeof VECTOR_FORMATS)[number];

/** What a row holds: float32 values, int8 values, or sign bits packed 8 per byte. */
export type VectorType = "float32" | "int8" | "binary";

export type VectorRow = Float32Array | Int8Array | Uint8Array;

/** The run's settings, written in a raw file's header and required equal on resume. */
export type OutputSettings = Record<string, string | number | boolean>;

/** What an interrupted file already holds. */
export interface ResumePoint {
  rows: number;
  /** The last row and its id (JSONL), to check the input and model against; undefined when no row is in. */
  last: { vector: number[]; id: unknown } | undefined;
}

const RAW_MAGIC = "jazzmine-vectors";
const NPY_MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
/** Digits reserved for the count in fixed-width headers. */
const COUNT_DIGITS = 16;
const HEADER_ALIGN = 64;

const BYTES_PER_VALUE: Record<VectorType, number> = { float32: 4, int8: 1, binary: 1 };
const NPY_DESCR: Record<VectorType, string> = { float32: "<f4", int8: "|i1", binary: "|u1" };

/** The format `--format` names, else the output's extension says (.jsonl, .npy, anything else raw). */
export function vectorFormatOf(path: string, requested?: string): VectorFormat {
  if (requested !== undefined) return requested as VectorFormat;
  const extension = extname(path).toLowerCase();
  return extension === ".jsonl" ? "jsonl" : extension === ".npy" ? "npy" : "raw";
}

export function partialPath(path: string): string {
  return `${path}.partial`;
}

/** Appends rows to <path>.partial; finish() patches the count and renames it to <path>. */
export class VectorFile {
  private rows = 0;
  /** Values per row, once the header is written (or read back). */
  private width: number | undefined;
  private headerBytes = 0;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly fd: number,
    private readonly format: VectorFormat,
    private readonly type: VectorType,
    private readonly settings: OutputSettings,
    /** Byte offset where the next row goes. */
    private offset: number,
  ) {}

  get partial(): string {
    return partialPath(this.path);
  }

  /** Rows in the file so far. */
  get count(): number {
    return this.rows;
  }

  /**
   * A new <path>.partial (replacing one an earlier run left), or with `resume` the one an
   * interrupted run left — or the finished <path>, taken back — checked against this run's
   * format, type and settings and cut to whole rows.
   */
  static open(
    path: string,
    options: { format: VectorFormat; type: VectorType; settings: OutputSettings; resume: boolean },
  ): { file: VectorFile; resumed: ResumePoint | undefined } {
    const partial = partialPath(path);
    if (existsSync(path) && statSync(path).isDirectory())
      throw new ExportError(`--output ${path} is a folder; name a file to write the vectors to`);
    if (options.resume && !existsSync(partial) && existsSync(path)) rename(path, partial);
    const resuming = options.resume && existsSync(partial);
    let fd: number;
    try {
      fd = openSync(partial, resuming ? "r+" : "w");
    } catch (error) {
      throw fileSystemError("write the vectors to", partial, error);
    }
    const file = new VectorFile(path, fd, options.format, options.type, options.settings, 0);
    if (!resuming) return { file, resumed: undefined };
    try {
      return { file, resumed: file.readBack() };
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  /** Appends rows (one write per call: a window of rows at a time). */
  append(rows: ReadonlyArray<{ vector: VectorRow; id?: unknown }>): void {
    if (rows.length === 0) return;
    const width = rows[0]!.vector.length;
    if (this.width === undefined) {
      this.width = width;
      if (this.format !== "jsonl") this.writeHeader();
    }
    for (const { vector } of rows) {
      if (vector.length !== this.width) {
        throw new ExportError(
          `${this.partial} holds vectors of ${this.width} values, but the model gives ${vector.length}; embed into a new file`,
        );
      }
    }
    const bytes =
      this.format === "jsonl"
        ? Buffer.from(rows.map((row) => `${jsonRow(row.vector, row.id, this.type)}\n`).join(""))
        : Buffer.concat(rows.map(({ vector }) => Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength)));
    this.write(bytes, this.offset);
    this.offset += bytes.length;
    this.rows += rows.length;
  }

  /** The count into the header, then <path>.partial renamed to <path>. */
  finish(): void {
    if (this.format !== "jsonl") {
      if (this.width === undefined)
        throw new ExportError(`no texts to embed: ${this.partial} has no rows (nothing was written to ${this.path})`);
      this.writeHeader();
    }
    this.close();
    rename(this.partial, this.path);
  }

  /** Closes and removes <path>.partial (a run that wrote nothing). */
  discard(): void {
    this.close();
    rmSync(this.partial, { force: true });
  }

  /** Closes the file, leaving <path>.partial for --resume. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }

  private writeHeader(): void {
    const header =
      this.format === "npy" ? npyHeader(this.type, this.width!, this.rows) : rawHeader(this.type, this.width!, this.rows, this.settings);
    if (this.headerBytes !== 0 && header.length !== this.headerBytes) throw new Error("vector file header changed size");
    this.write(header, 0);
    if (this.headerBytes === 0) {
      this.headerBytes = header.length;
      this.offset = header.length;
    }
  }

  private write(bytes: Buffer, position: number): void {
    try {
      for (let done = 0; done < bytes.length;) done += writeSync(this.fd, bytes, done, bytes.length - done, position + done);
    } catch (error) {
      throw fileSystemError("write the vectors to", this.partial, error);
    }
  }

  /** The partial file's rows (cut to whole ones) and its last row; its header checked against this run. */
  private readBack(): ResumePoint {
    const size = statSync(this.partial).size;
    if (this.format === "jsonl") return this.readBackJsonl(size);
    const head = this.read(0, Math.min(size, 4096));
    if (size === 0) return { rows: 0, last: undefined };
    const { width, headerBytes } = this.format === "npy" ? this.parseNpyHeader(head) : this.parseRawHeader(head);
    this.width = width;
    this.headerBytes = headerBytes;
    const rowBytes = width * BYTES_PER_VALUE[this.type];
    this.rows = Math.max(0, Math.floor((size - headerBytes) / rowBytes));
    this.offset = headerBytes + this.rows * rowBytes;
    this.truncate(this.offset);
    if (this.rows === 0) return { rows: 0, last: undefined };
    const bytes = this.read(this.offset - rowBytes, rowBytes);
    const vector =
      this.type === "float32"
        ? Array.from(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + rowBytes)))
        : Array.from(this.type === "int8" ? new Int8Array(bytes.buffer, bytes.byteOffset, rowBytes) : bytes);
    return { rows: this.rows, last: { vector, id: undefined } };
  }

  private readBackJsonl(size: number): ResumePoint {
    // The last newline ends the last whole row; a line cut by the kill after it goes.
    const chunk = 1 << 16;
    let end = size;
    let lastNewline = -1;
    for (let start = Math.max(0, size - chunk); lastNewline < 0 && end > 0; start = Math.max(0, start - chunk)) {
      const bytes = this.read(start, end - start);
      const at = bytes.lastIndexOf(0x0a);
      if (at >= 0) lastNewline = start + at;
      end = start;
    }
    this.truncate(lastNewline + 1);
    this.offset = lastNewline + 1;
    if (lastNewline < 0) return { rows: 0, last: undefined };
    let rows = 0;
    let lineStart = 0;
    for (let start = 0; start <= lastNewline; start += chunk) {
      const bytes = this.read(start, Math.min(chunk, lastNewline + 1 - start));
      for (let i = bytes.indexOf(0x0a); i >= 0; i = bytes.indexOf(0x0a, i + 1)) {
        rows++;
        if (start + i < lastNewline) lineStart = start + i + 1;
      }
    }
    const line = this.read(lineStart, lastNewline - lineStart).toString("utf8");
    const last = parseJsonRow(line, this.partial);
    this.rows = rows;
    this.width = last.vector.length;
    return { rows, last };
  }

  private parseRawHeader(head: Buffer): { width: number; headerBytes: number } {
    const newline = head.indexOf(0x0a);
    let header: unknown;
    try {
      header = newline > 0 ? JSON.parse(head.subarray(0, newline).toString("utf8")) : undefined;
    } catch {
      header = undefined;
    }
    if (!isPlainObject(header) || header.format !== RAW_MAGIC) {
      throw new ExportError(
        `${this.partial} is not a vector file this tool wrote (no "${RAW_MAGIC}" header line); remove it or drop --resume`,
      );
    }
    const expected = JSON.parse(rawHeader(this.type, 1, 0, this.settings).toString("utf8")) as Record<string, unknown>;
    const differing = Object.keys(expected).filter((key) => key !== "count" && key !== "width" && header[key] !== expected[key]);
    if (differing.length > 0 || !(Number.isInteger(header.width) && (header.width as number) > 0)) {
      throw new ExportError(
        `${this.partial} was written with other settings (${differing.map((key) => `${key} ${String(header[key])}, now ${String(expected[key])}`).join("; ") || "no width"}); ` +
          "remove it, or resume with the settings it was started with",
      );
    }
    return { width: header.width as number, headerBytes: newline + 1 };
  }

  private parseNpyHeader(head: Buffer): { width: number; headerBytes: number } {
    const length = head.length >= 10 && head.subarray(0, 8).equals(NPY_MAGIC) ? head.readUInt16LE(8) : -1;
    const dict = length > 0 ? head.subarray(10, 10 + length).toString("latin1") : "";
    const descr = /'descr':\s*'([^']+)'/.exec(dict)?.[1];
    const width = Number(/'shape':\s*\(\s*\d+\s*,\s*(\d+)\s*\)/.exec(dict)?.[1]);
    if (descr === undefined || !(width > 0)) {
      throw new ExportError(`${this.partial} is not a .npy file of vectors (no NumPy header with a 2-d shape); remove it or drop --resume`);
    }
    if (descr !== NPY_DESCR[this.type]) {
      throw new ExportError(
        `${this.partial} holds ${descr} values, not the ${NPY_DESCR[this.type]} of --vector ${this.type}; remove it, or resume with the settings it was started with`,
      );
    }
    return { width, headerBytes: 10 + length };
  }

  private read(position: number, length: number): Buffer {
    const bytes = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, bytes, done, length - done, position + done);
      if (n === 0) break;
      done += n;
    }
    return bytes.subarray(0, done);
  }

  private truncate(length: number): void {
    try {
      ftruncateSync(this.fd, length);
    } catch (error) {
      throw fileSystemError("cut the interrupted row from", this.partial, error);
    }
  }
}

/** `{"format":"jazzmine-vectors",…,"count":N}` padded with spaces to a fixed width, then a newline. */
function rawHeader(type: VectorType, width: number, count: number, settings: OutputSettings): Buffer {
  const fields = {
    format: RAW_MAGIC,
    version: 1,
    dtype: type === "binary" ? "uint8" : type,
    ...(type === "binary" ? { bits: width * 8 } : {}),
    width,
    ...settings,
  };
  const json = (n: number | string) => JSON.stringify({ ...fields, count: n });
  const reserved = json("9".repeat(COUNT_DIGITS)).length + 1;
  return Buffer.from(`${json(count).padEnd(roundUp(reserved, HEADER_ALIGN) - 1)}\n`, "utf8");
}

/** NumPy format 1.0: magic, header length, the dict padded with spaces to a multiple of 64 bytes. */
function npyHeader(type: VectorType, width: number, count: number): Buffer {
  const dict = (n: number | string) => `{'descr': '${NPY_DESCR[type]}', 'fortran_order': False, 'shape': (${n}, ${width}), }`;
  const total = roundUp(10 + dict("9".repeat(COUNT_DIGITS)).length + 1, HEADER_ALIGN);
  const text = `${dict(count).padEnd(total - 10 - 1)}\n`;
  const length = Buffer.alloc(2);
  length.writeUInt16LE(text.length);
  return Buffer.concat([NPY_MAGIC, length, Buffer.from(text, "latin1")]);
}

function roundUp(n: number, multiple: number): number {
  return Math.ceil(n / multiple) * multiple;
}

/** One JSONL row: the values (nine significant digits round-trip a float32), with the id when the input gave one. */
function jsonRow(vector: VectorRow, id: unknown, type: VectorType): string {
  const values = type === "float32" ? `[${Array.from(vector, (x) => Number(x.toPrecision(9))).join(",")}]` : `[${vector.join(",")}]`;
  return id === undefined ? values : `{"id":${JSON.stringify(id)},"embedding":${values}}`;
}

function parseJsonRow(line: string, file: string): { vector: number[]; id: unknown } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    value = undefined;
  }
  const vector = Array.isArray(value) ? value : isPlainObject(value) ? value.embedding : undefined;
  if (!Array.isArray(vector) || vector.length === 0 || !vector.every((x) => typeof x === "number")) {
    throw new ExportError(`${file} does not end with a vector row (a JSON array, or {"id", "embedding"}); remove it or drop --resume`);
  }
  return { vector, id: isPlainObject(value) ? value.id : undefined };
}

function rename(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (error) {
    throw fileSystemError("move the vectors into", to, error);
  }
}
