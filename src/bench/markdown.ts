// The Markdown report of a result: what ran where, export time and memory, session load,
// latency and throughput per shape, the primary/portable ratio, and the targets.
import { latencyRatio } from "./latency.js";
import { machineLine } from "./machine.js";
import type { BenchResult } from "./result.js";
import { shapeLabel } from "./shapes.js";

export function renderMarkdown(result: BenchResult, chartFile?: string): string {
  const { model, machine, settings } = result;
  const labels = new Map(result.exports.map((e) => [e.variant, e.label]));
  const label = (key: string) => labels.get(key as never) ?? key;
  const fp32 = result.exports.find((e) => e.variant === "fp32");
  const lines: string[] = [];
  lines.push(`### ${model.id}: ${model.description}, ${mib(model.weightsBytes)} of weights`);
  lines.push("");
  lines.push(
    `Measured ${result.startedAt.slice(0, 10)} on ${machineLine(machine)}; ${settings.threads} intra-op thread(s); ` +
      `load average ${machine.loadAverage.start}${machine.loadAverage.end !== undefined ? ` → ${machine.loadAverage.end}` : ""}; ` +
      `fresh memory ${machine.pageFaultMsPerMiB.start}${machine.pageFaultMsPerMiB.end !== undefined ? ` → ${machine.pageFaultMsPerMiB.end}` : ""} ms/MiB to fault in. ` +
      `\`${result.command}\`, ${Math.round(result.durationSeconds)} s.`,
  );
  lines.push("");
  lines.push(
    "**Export** — each run a fresh process (`EmbeddingService.exportOnnxModel`, verification included), runs interleaved, medians.",
  );
  lines.push("");
  const reranker = model.task === "rerank";
  lines.push(
    `| variant | graph | runs | export wall | whole process | peak RSS, exporting process | ÷ weights | peak RSS, onnxruntime worker · reference worker (sampled) | file | ${reranker ? "INT8 Spearman (held-out pairs)" : "INT8 / INT4 worst cosine"} |`,
  );
  lines.push("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|");
  for (const e of result.exports) {
    if (e.error) {
      lines.push(`| ${e.label} | failed: ${escape(e.error)} | ${e.runs.length} | | | | | | | |`);
      continue;
    }
    const size = e.artifact
      ? `${mib(e.artifact.bytes)}${e.artifact.externalData ? " (+ .data)" : ""}${fp32?.artifact && e !== fp32 ? ` · ${pct(e.artifact.bytes / fp32.artifact.bytes)}` : ""}`
      : "";
    lines.push(
      `| ${e.label} | ${e.graphVariant ?? ""} | ${e.runs.length} | ${seconds(e.wallMs)} | ${seconds(e.processMs)} | ${mib(e.maxRssBytes)} | ` +
        `${e.maxRssBytes !== undefined ? `${(e.maxRssBytes / model.weightsBytes).toFixed(2)}×` : ""} | ${helpers(e.helperPeakRssBytes)} | ${size} | ` +
        `${(e.quantization?.worstCosine ?? e.quantization?.spearman)?.toFixed(4) ?? ""} |`,
    );
  }
  // Each FP32 export's verification verdict, and any warning (a fallback to the portable graph).
  const notes = result.exports.flatMap((e) =>
    (e.log ?? [])
      .filter((line) => line.startsWith("warning") || (e.variant.startsWith("fp32") && line.startsWith("verified")))
      .map((line) => `${e.label}: ${line}`),
  );
  if (notes.length > 0) {
    lines.push("");
    lines.push(...notes.map((note) => `- ${escape(note)}`));
  }
  const shapes = result.latency.map((s) => shapeLabel(s.shape));
  if (result.latency.length > 0) {
    const rounds = result.latency.map((s) => `${shapeLabel(s.shape)}: ${s.rounds}`).join(", ");
    lines.push("");
    lines.push(
      `**Inference** — onnxruntime-node, optimization level all, ${settings.threads} thread(s), ` +
        `${settings.spinning ? "spinning between runs (onnxruntime's default; 20 ms pause before each run)" : "no spinning between runs (\`--spin\` for onnxruntime's default)"}; session load: median of ${settings.sessionLoads}; ` +
        `latency p50 / p95 over interleaved rounds (${rounds}); throughput at p50; ratio: median of per-round ratios to ${label(result.latency[0]!.baseline)}.`,
    );
    lines.push("");
    lines.push(`| variant | session load | ${shapes.join(" | ")} |`);
    lines.push(`|---|--:|${shapes.map(() => "--:").join("|")}|`);
    for (const load of result.sessions) {
      const cells = result.latency.map((s) => {
        const r = s.results.find((x) => x.variant === load.variant);
        return r ? `${ms(r.p50Ms)} / ${ms(r.p95Ms)}` : "";
      });
      lines.push(`| ${label(load.variant)} | ${ms(load.loadMs)} | ${cells.join(" | ")} |`);
    }
    lines.push("");
    lines.push(`| ${reranker ? "pairs/s" : "tokens/s"} (ratio) | ${shapes.join(" | ")} |`);
    lines.push(`|---|${shapes.map(() => "--:").join("|")}|`);
    for (const load of result.sessions) {
      const cells = result.latency.map((s) => {
        const r = s.results.find((x) => x.variant === load.variant);
        return r ? `${rate(reranker ? r.tokensPerSecond / s.shape.sequence : r.tokensPerSecond)} (${r.ratioToBaseline.toFixed(2)}×)` : "";
      });
      lines.push(`| ${label(load.variant)} | ${cells.join(" | ")} |`);
    }
    const portable = result.latency.map((s) => latencyRatio(s, "fp32-portable", "fp32"));
    if (portable.some((r) => r !== undefined)) {
      const fp32Graph = fp32?.graphVariant ?? "primary";
      lines.push("");
      lines.push(
        `**Primary vs portable graph** (same run): portable latency ÷ ${fp32Graph} latency, per shape: ` +
          result.latency.map((s, i) => `${shapeLabel(s.shape)} ${portable[i]?.toFixed(2) ?? "–"}×`).join(", ") +
          `${fp32Graph === "primary" ? "" : " — the default export fell back to the portable graph"}.`,
      );
    }
  }
  if (result.targets.length > 0) {
    lines.push("");
    lines.push("| target | reached | |");
    lines.push("|---|--:|---|");
    for (const t of result.targets) lines.push(`| ${t.name} ${t.target} | ${t.reached} | ${t.met ? "met" : "**not met**"} |`);
  }
  if (chartFile) {
    lines.push("");
    lines.push(`![latency per variant and shape](${chartFile})`);
  }
  return `${lines.join("\n")}\n`;
}

/** The onnxruntime worker's and the reference worker's peaks ("–" for one that did not run). */
function helpers(peaks: Record<string, number> | undefined): string {
  if (!peaks) return "n/a";
  const known = ["session-worker", "reference-worker"];
  const others = Object.keys(peaks).filter((name) => !known.includes(name));
  return [
    ...known.map((name) => (peaks[name] === undefined ? "–" : mib(peaks[name]))),
    ...others.map((name) => `${name} ${mib(peaks[name])}`),
  ].join(" · ");
}

const escape = (text: string) => text.replaceAll("|", "\\|").replaceAll("\n", " ");

export function mib(bytes: number | undefined): string {
  if (bytes === undefined) return "";
  const value = bytes / 2 ** 20;
  return value >= 1024 ? `${(value / 1024).toFixed(2)} GiB` : `${value.toFixed(1)} MiB`;
}

export function ms(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return "";
  return `${value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : value.toFixed(0)} ms`;
}

const seconds = (value: number | undefined) => (value === undefined ? "" : `${(value / 1000).toFixed(2)} s`);
const pct = (ratio: number) => `${(ratio * 100).toFixed(0)}%`;

export function rate(tokensPerSecond: number): string {
  return tokensPerSecond >= 1000 ? `${(tokensPerSecond / 1000).toFixed(1)}k` : tokensPerSecond.toFixed(0);
}
