// A read-only zip reader for checkpoint containers (torch.save writes a zip). Only what those
// files need: the central directory (zip64 included), stored and deflated entries, and the
// local headers that say where each entry's bytes start (torch pads them with an extra field
// so tensor data is 64-byte aligned, and its writer leaves sizes in local headers at zero).
//
// Files come from anywhere: every count, size and offset is checked against the real size
// before it is used, and every failure is a one-line WeightError naming the file.
import type { OpenFile } from "../common/files.js";
import { inflateRaw } from "./inflate.js";
import { readExactly } from "./safetensors.js";
import { quote } from "../common/messages.js";
import { WeightError } from "./weights.js";

export const ZIP_STORED = 0;
export const ZIP_DEFLATED = 8;

export interface ZipEntry {
  name: string;
  /** ZIP_STORED or ZIP_DEFLATED. */
  method: number;
  /** Bytes in the file. */
  compressedSize: number;
  /** Bytes once extracted. */
  size: number;
  crc32: number;
  /** Absolute offset of the entry's (compressed) bytes in the file. */
  dataOffset: number;
}

const EOCD_SIGNATURE = 0x06054b50;
const EOCD_BYTES = 22;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_LOCATOR_BYTES = 20;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const ZIP64_EOCD_BYTES = 56;
const CENTRAL_SIGNATURE = 0x02014b50;
const CENTRAL_BYTES = 46;
const LOCAL_SIGNATURE = 0x04034b50;
const LOCAL_BYTES = 30;
const ZIP64_EXTRA_ID = 0x0001;
const MAX_COMMENT = 0xffff;
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;
/** Deflate cannot expand data by more than ~1032:1; a larger claim is a bomb or corruption. */
const MAX_DEFLATE_RATIO = 1032;
/** A central directory above this is not a checkpoint's (torch's hold a few entries per tensor). */
const MAX_CENTRAL_DIRECTORY_BYTES = 256 * 1024 * 1024;

/** True when `head` (the first bytes of a file) starts like a zip archive. */
export function looksLikeZip(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && (head[2] === 3 || head[2] === 5) && (head[3] === 4 || head[3] === 6);
}

/**
 * Reads the central directory and every entry's local header; returns the entries by name.
 * Throws a WeightError on anything inconsistent.
 */
export function readZipDirectory(source: OpenFile): Map<string, ZipEntry> {
  const corrupt = (what: string) => new WeightError(`${source.label}: ${what}; the zip container is corrupt — re-download the checkpoint`);
  const { entryCount, directoryOffset, directorySize } = findDirectory(source, corrupt);
  const directory = readExactly(source, directoryOffset, directorySize);
  const view = new DataView(directory.buffer, directory.byteOffset, directory.byteLength);
  const entries = new Map<string, ZipEntry>();
  let at = 0;
  for (let i = 0; i < entryCount; i++) {
    if (at + CENTRAL_BYTES > directory.length || view.getUint32(at, true) !== CENTRAL_SIGNATURE) {
      throw corrupt(`central directory entry ${i} of ${entryCount} is missing or damaged`);
    }
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    const crc32 = view.getUint32(at + 16, true);
    let compressedSize = view.getUint32(at + 20, true);
    let size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    let localOffset = view.getUint32(at + 42, true);
    const end = at + CENTRAL_BYTES + nameLength + extraLength + commentLength;
    if (end > directory.length) throw corrupt(`central directory entry ${i} runs past the directory`);
    const name = decodeName(directory.subarray(at + CENTRAL_BYTES, at + CENTRAL_BYTES + nameLength));
    const extra = directory.subarray(at + CENTRAL_BYTES + nameLength, at + CENTRAL_BYTES + nameLength + extraLength);
    // zip64: each 32-bit field that reads 0xFFFFFFFF is in the zip64 extra field, in this order.
    if (size === U32_MAX || compressedSize === U32_MAX || localOffset === U32_MAX) {
      const zip64 = readZip64Extra(extra, [size === U32_MAX, compressedSize === U32_MAX, localOffset === U32_MAX]);
      if (!zip64) throw corrupt(`entry ${quote(name)} lacks the zip64 sizes its header announces`);
      [size, compressedSize, localOffset] = [zip64[0] ?? size, zip64[1] ?? compressedSize, zip64[2] ?? localOffset];
    }
    if (flags & 1) throw new WeightError(`${source.label}: entry ${quote(name)} is encrypted; re-save the checkpoint without encryption`);
    if (method !== ZIP_STORED && method !== ZIP_DEFLATED) {
      throw new WeightError(
        `${source.label}: entry ${quote(name)} uses zip compression method ${method}; only stored and deflated entries are supported — re-save the checkpoint`,
      );
    }
    if (method === ZIP_STORED && size !== compressedSize)
      throw corrupt(`stored entry ${quote(name)} has different compressed (${compressedSize}) and real (${size}) sizes`);
    if (method === ZIP_DEFLATED && size > compressedSize * MAX_DEFLATE_RATIO + 64) {
      throw corrupt(`deflated entry ${quote(name)} claims ${size} bytes from ${compressedSize}, more than deflate can produce`);
    }
    if (entries.has(name)) throw corrupt(`entry ${quote(name)} appears twice`);
    const dataOffset = localDataOffset(source, name, localOffset, corrupt);
    if (dataOffset + compressedSize > directoryOffset)
      throw corrupt(`entry ${quote(name)} (${compressedSize} bytes at ${dataOffset}) runs into the central directory`);
    entries.set(name, { name, method, compressedSize, size, crc32, dataOffset });
    at = end;
  }
  return entries;
}

/** The bytes of one entry, extracted (stored entries are read as they are). */
export function readZipEntry(source: OpenFile, entry: ZipEntry): Uint8Array {
  const raw = readExactly(source, entry.dataOffset, entry.compressedSize);
  if (entry.method === ZIP_STORED) return raw;
  let out: Uint8Array;
  try {
    out = inflateRaw(raw, entry.size);
  } catch (error) {
    throw new WeightError(
      `${source.label}: entry ${quote(entry.name)} does not inflate (${(error as Error).message}); the checkpoint is corrupt — re-download it`,
    );
  }
  if (out.length !== entry.size) {
    throw new WeightError(
      `${source.label}: entry ${quote(entry.name)} inflates to ${out.length} bytes, not the ${entry.size} its header says; the checkpoint is corrupt — re-download it`,
    );
  }
  return out;
}

interface DirectoryLocation {
  entryCount: number;
  directoryOffset: number;
  directorySize: number;
}

/** Finds the end-of-central-directory record (and its zip64 version when there is one). */
function findDirectory(source: OpenFile, corrupt: (what: string) => WeightError): DirectoryLocation {
  if (source.size < EOCD_BYTES) throw corrupt(`${source.size} bytes is too short for a zip archive`);
  const tailLength = Math.min(source.size, EOCD_BYTES + MAX_COMMENT + ZIP64_LOCATOR_BYTES);
  const tailStart = source.size - tailLength;
  const tail = readExactly(source, tailStart, tailLength);
  const view = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  let eocd = -1;
  for (let i = tail.length - EOCD_BYTES; i >= 0; i--) {
    // The record ends the file, after a comment of exactly the length it declares.
    if (view.getUint32(i, true) === EOCD_SIGNATURE && i + EOCD_BYTES + view.getUint16(i + 20, true) === tail.length) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw corrupt("no end-of-central-directory record (the file is truncated or not a zip archive)");
  let entryCount = view.getUint16(eocd + 10, true);
  let directorySize = view.getUint32(eocd + 12, true);
  let directoryOffset = view.getUint32(eocd + 16, true);
  // The central directory ends where the (zip64) end record begins.
  let directoryEnd = tailStart + eocd;
  const locator = eocd - ZIP64_LOCATOR_BYTES;
  if (locator >= 0 && view.getUint32(locator, true) === ZIP64_LOCATOR_SIGNATURE) {
    const recordOffset = safeU64(view, locator + 8);
    if (recordOffset === undefined || recordOffset + ZIP64_EOCD_BYTES > tailStart + locator)
      throw corrupt("the zip64 end-of-central-directory locator points outside the file");
    const record = readExactly(source, recordOffset, ZIP64_EOCD_BYTES);
    const r = new DataView(record.buffer, record.byteOffset, record.byteLength);
    if (r.getUint32(0, true) !== ZIP64_EOCD_SIGNATURE) throw corrupt("the zip64 end-of-central-directory record is missing");
    const count = safeU64(r, 32);
    const size = safeU64(r, 40);
    const offset = safeU64(r, 48);
    if (count === undefined || size === undefined || offset === undefined)
      throw corrupt("the zip64 end-of-central-directory record holds impossible sizes");
    [entryCount, directorySize, directoryOffset, directoryEnd] = [count, size, offset, recordOffset];
  } else if (entryCount === U16_MAX || directorySize === U32_MAX || directoryOffset === U32_MAX) {
    throw corrupt("the end-of-central-directory record needs zip64 values but there is no zip64 record");
  }
  if (directorySize > MAX_CENTRAL_DIRECTORY_BYTES) throw corrupt(`central directory of ${directorySize} bytes is too large`);
  if (directoryOffset + directorySize > directoryEnd)
    throw corrupt(`central directory (${directorySize} bytes at ${directoryOffset}) runs past its end record`);
  if (entryCount * CENTRAL_BYTES > directorySize)
    throw corrupt(`${entryCount} entries cannot fit in a ${directorySize}-byte central directory`);
  return { entryCount, directoryOffset, directorySize };
}

/** Where an entry's bytes begin: after its local header, name and (local) extra field. */
function localDataOffset(source: OpenFile, name: string, localOffset: number, corrupt: (what: string) => WeightError): number {
  if (localOffset + LOCAL_BYTES > source.size) throw corrupt(`entry ${quote(name)} has its local header outside the file`);
  const header = readExactly(source, localOffset, LOCAL_BYTES);
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  if (view.getUint32(0, true) !== LOCAL_SIGNATURE) throw corrupt(`entry ${quote(name)} has no local header at offset ${localOffset}`);
  const nameLength = view.getUint16(26, true);
  const extraLength = view.getUint16(28, true);
  const dataOffset = localOffset + LOCAL_BYTES + nameLength + extraLength;
  if (dataOffset > source.size) throw corrupt(`entry ${quote(name)} has a local header running past the end of the file`);
  const localName = decodeName(readExactly(source, localOffset + LOCAL_BYTES, nameLength));
  if (localName !== name) throw corrupt(`entry ${quote(name)} has local header name ${quote(localName)}`);
  return dataOffset;
}

/** Values of a zip64 extended-information field, for the fields flagged `present`. */
function readZip64Extra(extra: Uint8Array, present: boolean[]): Array<number | undefined> | undefined {
  const view = new DataView(extra.buffer, extra.byteOffset, extra.byteLength);
  for (let at = 0; at + 4 <= extra.length;) {
    const id = view.getUint16(at, true);
    const length = view.getUint16(at + 2, true);
    if (at + 4 + length > extra.length) return undefined;
    if (id === ZIP64_EXTRA_ID) {
      const values: Array<number | undefined> = [];
      let field = at + 4;
      for (const isPresent of present) {
        if (!isPresent) {
          values.push(undefined);
          continue;
        }
        if (field + 8 > at + 4 + length) return undefined;
        const value = safeU64(view, field);
        if (value === undefined) return undefined;
        values.push(value);
        field += 8;
      }
      return values;
    }
    at += 4 + length;
  }
  return undefined;
}

/** A little-endian u64 as a number, or undefined above 2^53. */
function safeU64(view: DataView, at: number): number | undefined {
  const value = view.getBigUint64(at, true);
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
}

const NAME_DECODER = new TextDecoder("utf-8");

function decodeName(bytes: Uint8Array): string {
  return NAME_DECODER.decode(bytes);
}
