// Content hashes a runtime has already verified, so that loading an export does not re-read
// every byte of its model with sha256 each time (node:crypto: 564 MiB/s under load in
// bench/results/sha256.txt, so ~0.2 s per 133 MB). A file's hash is vouched
// for only while the file is provably the one that was hashed: same real path, device, inode,
// size, mtime and ctime (nanoseconds). Any write, truncation, replacement (rename, copy) or
// timestamp change (utimes sets ctime, which no call can set back) makes the entry useless, and
// the file is hashed again.
//
// The memo is one small JSON file the library owns, per user:
//   $JAZZMINE_CACHE_DIR, else $XDG_CACHE_HOME/jazzmine-embedding, else ~/.cache/jazzmine-embedding
//   → verified-files.json
// It is read only when it is a regular file of bounded size owned by this user and writable by
// no one else; anything unexpected in it (not JSON, another format, a malformed entry) makes it
// empty, never trusted. It is rewritten atomically (temp file + rename, mode 0600), merged with
// what another process wrote meanwhile; a write lost to a concurrent one only costs a hash later.
// A memo that cannot be written (read-only home) is no error: files are then hashed every time.
import { type BigIntStats, mkdirSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { createAtomically } from "../common/atomic.js";
import { isPlainObject } from "../common/messages.js";
import { readRegularText } from "../common/regular-file.js";

const MEMO_FORMAT = "jazzmine-verified-files";
const MEMO_VERSION = 1;
const MEMO_FILE = "verified-files.json";
/** Entries kept (the most recently verified): the files of some fifty exports of ~10 files. */
const MAX_ENTRIES = 512;
/** A larger file is not a memo this module wrote. */
const MAX_MEMO_BYTES = 512 * 2 ** 10;

/** How a runtime checks the content of an export's files against its manifest. */
export type VerifyMode = "cached" | "full";
export const VERIFY_MODES: readonly VerifyMode[] = ["cached", "full"];

/** What identifies one version of a file on disk. */
export interface FileIdentity {
  /** The real path (symlinks resolved). */
  path: string;
  dev: string;
  ino: string;
  size: string;
  mtimeNs: string;
  ctimeNs: string;
}

interface MemoEntry extends FileIdentity {
  sha256: string;
  /** When it was verified (ms since the epoch): the oldest entries go first. */
  at: number;
}

/** The folder of the memo: $JAZZMINE_CACHE_DIR, else $XDG_CACHE_HOME/jazzmine-embedding, else ~/.cache/jazzmine-embedding. */
export function verifiedFilesDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.JAZZMINE_CACHE_DIR) return env.JAZZMINE_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, "jazzmine-embedding");
  try {
    return join(homedir(), ".cache", "jazzmine-embedding");
  } catch {
    return undefined; // no home: no memo
  }
}

export function verifiedFilesPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dir = verifiedFilesDir(env);
  return dir === undefined ? undefined : join(dir, MEMO_FILE);
}

/** The identity of the file at `path` now (symlinks followed). */
export function fileIdentity(path: string): FileIdentity {
  const stats: BigIntStats = statSync(path, { bigint: true });
  return {
    path: realpathSync(path),
    dev: String(stats.dev),
    ino: String(stats.ino),
    size: String(stats.size),
    mtimeNs: String(stats.mtimeNs),
    ctimeNs: String(stats.ctimeNs),
  };
}

export function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.path === b.path && a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

/**
 * Hashes this process computed itself (an export's staged files, hashed as they were written):
 * vouched for like the memo's, never written to it until they are carried to a published path.
 * The most recent MAX_ENTRIES only, so that a service exporting again and again holds no more.
 */
const computedHere = new Map<string, MemoEntry>();

/** Records that this process hashed the file `identity` names and found `sha256`. */
export function vouchInProcess(identity: FileIdentity, sha256: string): void {
  computedHere.delete(identity.path); // re-inserted last: the Map's order is the age
  computedHere.set(identity.path, { ...identity, sha256, at: Date.now() });
  for (const oldest of computedHere.keys()) {
    if (computedHere.size <= MAX_ENTRIES) break;
    computedHere.delete(oldest);
  }
}

/** The memo of verified hashes, read once; `remember` then `save` adds to it. */
export class VerifiedFiles {
  private readonly added: MemoEntry[] = [];

  private constructor(
    private readonly path: string | undefined,
    private readonly entries: Map<string, MemoEntry>,
  ) {}

  /** The memo at `path` (default: the user's), empty when it is missing or not to be trusted; this process's own hashes over it. */
  static read(path: string | undefined = verifiedFilesPath()): VerifiedFiles {
    const entries = path === undefined ? new Map<string, MemoEntry>() : readEntries(path);
    for (const [key, entry] of computedHere) entries.set(key, entry);
    return new VerifiedFiles(path, entries);
  }

  /**
   * `from` (a file the memo vouches for) was renamed to `to`: the same inode, size and mtime
   * there keep its hash, remembered under the new path.
   */
  carry(from: FileIdentity, to: string): void {
    const entry = this.entries.get(from.path);
    if (!entry || !sameIdentity(entry, from)) return;
    const moved = fileIdentity(to);
    if (moved.dev === from.dev && moved.ino === from.ino && moved.size === from.size && moved.mtimeNs === from.mtimeNs)
      this.remember(moved, entry.sha256);
    computedHere.delete(from.path); // the staged path is gone
  }

  /** Whether `identity` (the file as it is now) was verified to have `sha256`. */
  vouches(identity: FileIdentity, sha256: string): boolean {
    const entry = this.entries.get(identity.path);
    return entry !== undefined && entry.sha256 === sha256 && sameIdentity(entry, identity);
  }

  /** Records that the file `identity` names has `sha256` (hashed while it had that identity). */
  remember(identity: FileIdentity, sha256: string): void {
    const entry = { ...identity, sha256, at: Date.now() };
    this.entries.set(identity.path, entry);
    this.added.push(entry);
  }

  /** Writes what was remembered, merged with the memo as it is on disk now; failures are ignored. */
  save(): void {
    if (this.path === undefined || this.added.length === 0) return;
    const path = this.path;
    const merged = readEntries(path);
    for (const entry of this.added) merged.set(entry.path, entry);
    const kept = [...merged.values()].sort((a, b) => b.at - a.at).slice(0, MAX_ENTRIES);
    const text = `${JSON.stringify({ format: MEMO_FORMAT, version: MEMO_VERSION, files: kept })}\n`;
    try {
      mkdirSync(join(path, ".."), { recursive: true, mode: 0o700 });
      createAtomically(path, (temp) => writeFileSync(temp, text, { mode: 0o600 }));
    } catch {
      // A memo is an optimization: an unwritable cache folder only means hashing next time.
    }
  }
}

/** The memo's entries by real path; empty for anything but a memo this user wrote. */
function readEntries(path: string): Map<string, MemoEntry> {
  const entries = new Map<string, MemoEntry>();
  let text: string;
  try {
    if (!ownedPrivately(path)) return entries;
    text = readRegularText(path, MAX_MEMO_BYTES);
  } catch {
    return entries; // missing, a FIFO or device, too large, unreadable
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return entries;
  }
  if (!isPlainObject(value) || value.format !== MEMO_FORMAT || value.version !== MEMO_VERSION || !Array.isArray(value.files)) {
    return entries;
  }
  for (const entry of value.files) {
    if (!isEntry(entry)) return new Map(); // a memo with one entry this module would not write is not trusted at all
    entries.set(entry.path, entry);
  }
  return entries;
}

/** Owned by this user and writable by no one else (where the system has users). */
function ownedPrivately(path: string): boolean {
  const stats = statSync(path);
  if (!stats.isFile()) return false;
  if (typeof process.getuid !== "function") return true;
  return stats.uid === process.getuid() && (stats.mode & 0o022) === 0;
}

const DIGITS = /^\d{1,40}$/;
const SHA256 = /^[0-9a-f]{64}$/;

function isEntry(value: unknown): value is MemoEntry {
  if (!isPlainObject(value)) return false;
  const { path, dev, ino, size, mtimeNs, ctimeNs, sha256, at } = value;
  return (
    typeof path === "string" &&
    path.length > 0 &&
    [dev, ino, size, mtimeNs, ctimeNs].every((field) => typeof field === "string" && DIGITS.test(field)) &&
    typeof sha256 === "string" &&
    SHA256.test(sha256) &&
    typeof at === "number" &&
    Number.isFinite(at)
  );
}
