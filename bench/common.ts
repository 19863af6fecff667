// Shared bench helpers: the generated bge-small-shaped model (the suite's default model, from
// the same cache), medians, file sizes, and keeping a script's output as a result file.
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describeMachine, finishMachine, machineLine } from "../dist/bench/machine.js";
import { syntheticModelDir } from "../dist/bench/models.js";

export { median } from "../dist/bench/stats.js";

export const CACHE = join(import.meta.dirname, "..", ".cache", "bench");
export const RESULTS = join(import.meta.dirname, "results");

/** The bge-small-shaped synthetic model (generated once, then reused). */
export function bgeSmallModel(): string {
  return syntheticModelDir("bge-small", join(CACHE, "models"), (message) => process.stderr.write(`${message}\n`));
}

export const fileMiB = (path: string) => statSync(path).size / 2 ** 20;

/**
 * Copies everything this script prints on stdout into bench/results/<name>.txt, headed by the
 * date, the machine and the command, so that the figures docs cite from it stay in the repo.
 * `keep` false (e.g. a partial --quick run) prints only.
 */
export function keepOutput(name: string, keep = true): void {
  if (!keep) return;
  const machine = describeMachine();
  const started = new Date().toISOString();
  const chunks: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    chunks.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString());
    return write(chunk, ...rest);
  }) as typeof process.stdout.write;
  process.once("beforeExit", () => {
    if (process.exitCode) return; // a failed run keeps the previous result
    const command = `tsx bench/${name}.ts ${process.argv.slice(2).join(" ")}`.trim();
    mkdirSync(RESULTS, { recursive: true });
    const m = finishMachine(machine);
    const load = `load average ${m.loadAverage.start} → ${m.loadAverage.end}; fresh memory ${m.pageFaultMsPerMiB.start} → ${m.pageFaultMsPerMiB.end} ms/MiB to fault in`;
    writeFileSync(join(RESULTS, `${name}.txt`), `Measured ${started} on ${machineLine(m)}; ${load}. \`${command}\`\n\n${chunks.join("")}`);
  });
}
