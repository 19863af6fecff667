// Peak RSS of the processes an export starts (the onnxruntime verification and calibration
// workers, the reference-forward worker). Node reports only its own process's peak, so on
// Linux the bench reads each descendant's high-water mark (VmHWM) from /proc while it lives.
// Sampled: a peak reached in the last interval before a process exits can be missed, hence
// "sampled" in the reports.
import { readFileSync } from "node:fs";
import { platform } from "node:os";
import { basename } from "node:path";

const SAMPLE_MS = 100;

export class DescendantPeakRss {
  /** Peak per process id, and the name of the module each process runs. */
  private readonly peaks = new Map<number, { name: string; bytes: number }>();
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(private readonly root: number) {
    if (platform() !== "linux") return;
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
    this.timer.unref();
  }

  /**
   * The largest peak RSS per kind of descendant ("session-worker", "reference-worker", …);
   * undefined where /proc is unavailable.
   */
  stop(): Record<string, number> | undefined {
    if (!this.timer) return undefined;
    clearInterval(this.timer);
    const byName: Record<string, number> = {};
    for (const { name, bytes } of this.peaks.values()) byName[name] = Math.max(bytes, byName[name] ?? 0);
    return byName;
  }

  private sample(): void {
    try {
      // From the root down (/proc/<pid>/task/<pid>/children): process ids wrap (pid_max is 32768
      // on many machines), so a descendant's id says nothing about its parent's.
      for (const pid of processTree(this.root).slice(1)) {
        const hwm = highWaterMark(pid);
        if (hwm === undefined) continue;
        // Between fork and exec a child still shows its parent's command and memory: a
        // process's figures count from the command it finally runs.
        const name = moduleName(pid);
        // An exiting process has no command line left: keep what it was known as.
        if (name === undefined) continue;
        const known = this.peaks.get(pid);
        this.peaks.set(pid, { name, bytes: known?.name === name ? Math.max(hwm, known.bytes) : hwm });
      }
    } catch {
      // A process vanished mid-scan: the next sample sees the rest.
    }
  }
}

function highWaterMark(pid: number): number | undefined {
  return procStatusBytes(pid, "VmHWM");
}

/** A memory field of /proc/<pid>/status in bytes (VmRSS: now, VmHWM: peak); undefined off Linux or once gone. */
export function procStatusBytes(pid: number | "self", field: "VmRSS" | "VmHWM"): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The script a node process runs ("session-worker" for …/session-worker.js), else its command;
 * undefined once the process is gone or exiting (its command line is empty then).
 */
function moduleName(pid: number): string | undefined {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
    if (args.length === 0) return undefined;
    const script = args.find((a) => /\.(c|m)?[jt]s$/.test(a) && !a.includes("node_modules"));
    return basename(script ?? args[0]!).replace(/\.(c|m)?[jt]s$/, "");
  } catch {
    return undefined;
  }
}

/** Resident memory now of `pid` and all its descendants together (Linux; 0 for what cannot be read). */
export function processTreeRss(pid: number): number {
  return processTree(pid).reduce((sum, p) => sum + (procStatusBytes(p, "VmRSS") ?? 0), 0);
}

/** `pid` and its descendants, from /proc/<pid>/task/<pid>/children. */
export function processTree(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // gone, or not Linux
  }
  return [pid, ...children.flatMap((child) => processTree(child))];
}
