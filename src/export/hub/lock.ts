// A cross-process lock without dependencies: the holder exclusive-creates the lock file (open
// "wx") with its host, pid and a nonce, and refreshes its mtime while it works. A lock whose
// process is gone (same host) or whose heartbeat stopped is stale and gets broken.
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { dirname } from "node:path";
import { processAlive, tempPathFor } from "../../common/atomic.js";
import { fileSystemError } from "../../common/errors.js";

export interface LockOptions {
  /** A lock not refreshed for this long is stale (default 30 s; the holder refreshes every third of it). */
  staleMs?: number;
  pollMs?: number;
  /** Called once when the lock is busy and we start waiting. */
  onWait?: () => void;
}

interface LockOwner {
  host: string;
  pid: number;
  nonce: string;
}

/** Runs `work` while holding the lock file `path`. */
export async function withFileLock<T>(path: string, work: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const staleMs = options.staleMs ?? 30_000;
  const owner = await acquire(path, staleMs, options);
  const heartbeat = setInterval(() => touch(path), Math.max(10, staleMs / 3));
  heartbeat.unref();
  try {
    return await work();
  } finally {
    clearInterval(heartbeat);
    release(path, owner);
  }
}

async function acquire(path: string, staleMs: number, options: LockOptions): Promise<LockOwner> {
  const owner: LockOwner = { host: hostname(), pid: process.pid, nonce: Math.random().toString(36).slice(2) };
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (error) {
    throw fileSystemError("create the lock folder", dirname(path), error);
  }
  let waiting = false;
  for (;;) {
    try {
      writeFileSync(path, JSON.stringify(owner), { flag: "wx" });
      return owner;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw fileSystemError("create the lock file", path, error);
    }
    if (isStale(path, staleMs)) {
      breakLock(path);
      continue;
    }
    if (!waiting) {
      waiting = true;
      options.onWait?.();
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 100));
  }
}

function isStale(path: string, staleMs: number): boolean {
  let modified: number;
  try {
    modified = statSync(path).mtimeMs;
  } catch {
    return false; // released meanwhile: just try again
  }
  const holder = readOwner(path);
  if (holder && holder.host === hostname() && !processAlive(holder.pid)) return true;
  return Date.now() - modified > staleMs;
}

function readOwner(path: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(readFileSync(path, "utf8")) as LockOwner;
    return typeof owner.pid === "number" && typeof owner.host === "string" ? owner : undefined;
  } catch {
    return undefined; // being written, or removed
  }
}

/** Moves the stale lock aside (one breaker wins the rename) and deletes it. */
function breakLock(path: string): void {
  const aside = tempPathFor(path, "stale");
  try {
    renameSync(path, aside);
    rmSync(aside, { force: true });
  } catch {
    // Someone else broke or released it first.
  }
}

function touch(path: string): void {
  try {
    const now = new Date();
    utimesSync(path, now, now);
  } catch {
    // Lost the file (broken as stale by a peer): the download's checksum still guards the blob.
  }
}

function release(path: string, owner: LockOwner): void {
  if (readOwner(path)?.nonce === owner.nonce) rmSync(path, { force: true });
}
