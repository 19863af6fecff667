// SHA-256 throughput: node:crypto against the portable src/common/sha256.ts (what a browser export
// would hash its files with), 64 MiB fed in 4 MiB pieces as the ONNX writer hands them out,
// alternating, median of 5 each.
//   npx tsx bench/sha256.ts
import { createHash } from "node:crypto";
import { Sha256 } from "../src/common/sha256.js";
import { median } from "../src/bench/stats.js";
import { keepOutput } from "./common.js";

keepOutput("sha256");
const piece = new Uint8Array(4 * 2 ** 20).map((_, i) => (i * 2654435761) >>> 24);
const pieces = 16;
const mib = (piece.byteLength * pieces) / 2 ** 20;

function time(digest: () => string): { ms: number; hex: string } {
  const started = performance.now();
  const hex = digest();
  return { ms: performance.now() - started, hex };
}

const node = (): string => {
  const hash = createHash("sha256");
  for (let i = 0; i < pieces; i++) hash.update(piece);
  return hash.digest("hex");
};
const portable = (): string => {
  const hash = new Sha256();
  for (let i = 0; i < pieces; i++) hash.update(piece);
  return hash.digestHex();
};

const runs: Record<string, number[]> = { "node:crypto": [], "portable Sha256": [] };
for (let round = 0; round < 5; round++) {
  const a = time(node);
  const b = time(portable);
  if (a.hex !== b.hex) throw new Error(`digests differ: ${a.hex} ${b.hex}`);
  runs["node:crypto"]!.push(a.ms);
  runs["portable Sha256"]!.push(b.ms);
}
console.log(`SHA-256 of ${mib} MiB in ${pieces} pieces, 5 alternating rounds:`);
for (const [name, ms] of Object.entries(runs)) {
  const m = median(ms);
  console.log(
    `  ${name.padEnd(16)} median ${m.toFixed(0)} ms (${((mib / m) * 1000).toFixed(0)} MiB/s) [${ms.map((v) => v.toFixed(0)).join(" ")}]`,
  );
}
