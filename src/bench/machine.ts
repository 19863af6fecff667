// What a result was measured on: timings only compare within one machine and one run.
import { readFileSync } from "node:fs";
import { arch, availableParallelism, cpus, loadavg, platform, release, totalmem } from "node:os";
import * as ort from "onnxruntime-node";
import { PACKAGE_VERSION } from "../export/version.js";

export interface MachineInfo {
  cpu: string;
  /** Logical cores this process may use. */
  cores: number;
  memoryGiB: number;
  os: string;
  /** True when /proc/cpuinfo says the CPU runs under a hypervisor (page faults cost more there). */
  virtualMachine?: boolean;
  node: string;
  onnxruntime: string;
  tool: string;
  /** 1-minute load average when the run started and ended (other work on the machine). */
  loadAverage: { start: number; end?: number };
  /**
   * Milliseconds to fault in one MiB of fresh memory, at the start and the end. Loading a model
   * touches hundreds of MiB, so this cost (higher on VMs, and varying with the host's load)
   * explains much of the export and session-load times.
   */
  pageFaultMsPerMiB: { start: number; end?: number };
}

export function describeMachine(): MachineInfo {
  const vm = hypervisorFlag();
  return {
    cpu: cpus()[0]?.model.trim() || "unknown CPU",
    cores: availableParallelism(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${platform()} ${release()} ${arch()}`,
    ...(vm === undefined ? {} : { virtualMachine: vm }),
    node: process.version,
    onnxruntime: ort.env.versions.common,
    tool: PACKAGE_VERSION,
    loadAverage: { start: round2(loadavg()[0]!) },
    pageFaultMsPerMiB: { start: pageFaultCost() },
  };
}

export function finishMachine(machine: MachineInfo): MachineInfo {
  return {
    ...machine,
    loadAverage: { ...machine.loadAverage, end: round2(loadavg()[0]!) },
    pageFaultMsPerMiB: { ...machine.pageFaultMsPerMiB, end: pageFaultCost() },
  };
}

/** Touches 64 MiB of fresh memory (one write per 4 KiB page) and times it, per MiB. */
function pageFaultCost(): number {
  const mib = 64;
  const started = performance.now();
  const fresh = new Uint8Array(mib * 2 ** 20);
  for (let i = 0; i < fresh.length; i += 4096) fresh[i] = 1;
  return round2((performance.now() - started) / mib);
}

/** One line for tables and logs. */
export function machineLine(m: MachineInfo): string {
  const vm = m.virtualMachine ? ", virtual machine" : "";
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB${vm}; ${m.os}; node ${m.node}, onnxruntime-node ${m.onnxruntime}`;
}

function hypervisorFlag(): boolean | undefined {
  if (platform() !== "linux") return undefined;
  try {
    return /^flags\s*:.*\bhypervisor\b/m.test(readFileSync("/proc/cpuinfo", "utf8"));
  } catch {
    return undefined;
  }
}

const round2 = (x: number) => Math.round(x * 100) / 100;
