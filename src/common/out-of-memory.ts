// Out-of-memory failures in words, with this process's address-space limit (Node: read from
// /proc/self/limits, so it stays out of the portable src/common/errors.ts).
import { readFileSync } from "node:fs";
import { findCause, saysOutOfMemory } from "./errors.js";
import { errorMessage } from "./messages.js";

/**
 * When memory ran out behind `error` (anywhere in its cause chain): one line saying so, with the
 * allocation that failed when the message gives its size and the address-space limit when one
 * is set (ulimit -v); undefined for other failures.
 */
export function outOfMemoryMessage(error: unknown): string | undefined {
  const said = findCause(error, (e): e is unknown => saysOutOfMemory(errorMessage(e)));
  if (said === undefined) return undefined;
  const size = /buffer of size (\d+)/i.exec(errorMessage(said))?.[1];
  const limit = addressSpaceLimit();
  return (
    `out of memory${size ? ` (an allocation of ${gigabytes(Number(size))} failed)` : ""}` +
    `${limit !== undefined ? `; this process may use ${gigabytes(limit)} of address space (ulimit -v)` : ""}: ` +
    `free memory${limit !== undefined ? " or raise the limit" : ""} and run again`
  );
}

/** The soft RLIMIT_AS of this process in bytes (child processes inherit it); undefined when unlimited or unknown. */
function addressSpaceLimit(): number | undefined {
  try {
    const line = /^Max address space\s+(\S+)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    return line && line[1] !== "unlimited" ? Number(line[1]) : undefined;
  } catch {
    return undefined;
  }
}

function gigabytes(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${Math.max(1, Math.round(bytes / 1e6))} MB`;
}
