// The SVG charts of bench/scale.ts: per model, latency and peak RSS of the onnxruntime process
// against the sequence length (batch 1) and against the batch size, one line per graph
// variant, on logarithmic axes where the values span orders of magnitude. Plain SVG 1.1 like
// the suite's chart (chart.ts): no scripts, no external resources.
import { escapeXml } from "./chart.js";

export interface ScalePoint {
  model: string;
  variant: string;
  batch: number;
  sequence: number;
  p50Ms: number;
  runs: number;
  /** RSS once the session is loaded, and the process's peak RSS after the runs. */
  loadedBytes: number;
  peakBytes: number;
}

export interface ScaleChartInput {
  title: string;
  subtitle: string;
  models: readonly string[];
  variants: readonly string[];
  /** The sequence length of the batch sweep. */
  batchSweepSequence: number;
  points: readonly ScalePoint[];
}

const PANEL_WIDTH = 400;
const PANEL_HEIGHT = 230;
const MARGIN = { left: 62, right: 14, top: 28, bottom: 40 };
const HEADER = 74;
const COLORS = ["#4c72b0", "#dd8452", "#9a9a9a", "#55a868", "#c44e52"];

interface Series {
  label: string;
  color: string;
  points: Array<[number, number]>;
}

export function renderScaleChart(input: ScaleChartInput): string {
  const parts: string[] = [];
  const color = (variant: string) => COLORS[input.variants.indexOf(variant) % COLORS.length]!;
  let y = HEADER;
  for (const model of input.models) {
    const sweep = (along: "sequence" | "batch", value: (p: ScalePoint) => number): Series[] =>
      input.variants.map((variant) => ({
        label: variant,
        color: color(variant),
        points: input.points
          .filter(
            (p) =>
              p.model === model &&
              p.variant === variant &&
              (along === "sequence" ? p.batch === 1 : p.sequence === input.batchSweepSequence),
          )
          .map((p): [number, number] => [along === "sequence" ? p.sequence : p.batch, value(p)])
          .sort((a, b) => a[0] - b[0]),
      }));
    const latency = (p: ScalePoint) => p.p50Ms;
    const peak = (p: ScalePoint) => p.peakBytes / 2 ** 20;
    parts.push(
      panel(10, y, `${model}: latency vs sequence (batch 1)`, "sequence length", "p50 ms", sweep("sequence", latency), true),
      panel(10 + PANEL_WIDTH, y, `${model}: peak RSS vs sequence (batch 1)`, "sequence length", "MiB", sweep("sequence", peak), false),
    );
    y += PANEL_HEIGHT;
    parts.push(
      panel(10, y, `${model}: latency vs batch (sequence ${input.batchSweepSequence})`, "batch", "p50 ms", sweep("batch", latency), true),
      panel(
        10 + PANEL_WIDTH,
        y,
        `${model}: peak RSS vs batch (sequence ${input.batchSweepSequence})`,
        "batch",
        "MiB",
        sweep("batch", peak),
        false,
      ),
    );
    y += PANEL_HEIGHT + 10;
  }
  const width = 2 * PANEL_WIDTH + 20;
  const legend = input.variants.map(
    (v, i) =>
      `<rect x="${10 + i * 200}" y="52" width="14" height="4" fill="${color(v)}"/><text x="${28 + i * 200}" y="58" class="label">${escapeXml(v)}</text>`,
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="Helvetica, Arial, sans-serif">`,
    "<style>.title{font-size:14px;font-weight:bold}.subtitle{font-size:11px;fill:#555}.panel{font-size:12px;font-weight:bold;fill:#333}.label{font-size:11px;fill:#222}.tick{font-size:10px;fill:#555}.axis{stroke:#333;stroke-width:1}.grid{stroke:#e3e3e3;stroke-width:1}</style>",
    `<rect width="${width}" height="${y}" fill="#fff"/>`,
    `<text x="10" y="22" class="title">${escapeXml(input.title)}</text>`,
    `<text x="10" y="40" class="subtitle">${escapeXml(input.subtitle)}</text>`,
    ...legend,
    ...parts,
    "</svg>",
    "",
  ].join("\n");
}

/** One panel: logarithmic x (sizes double), logarithmic or linear y from 0. */
function panel(left: number, top: number, title: string, xLabel: string, yLabel: string, series: Series[], logY: boolean): string {
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return "";
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = logY ? [Math.min(...ys) / 1.2, Math.max(...ys) * 1.2] : [0, Math.max(...ys) * 1.1];
  const plotW = PANEL_WIDTH - MARGIN.left - MARGIN.right;
  const plotH = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;
  const px = (x: number) => left + MARGIN.left + (x1 === x0 ? 0 : (Math.log(x / x0) / Math.log(x1 / x0)) * plotW);
  const py = (v: number) => top + MARGIN.top + plotH - (logY ? Math.log(v / y0) / Math.log(y1 / y0) : (v - y0) / (y1 - y0)) * plotH;
  const out: string[] = [`<text x="${left + 4}" y="${top + 16}" class="panel">${escapeXml(title)}</text>`];
  for (const x of [...new Set(xs)].sort((a, b) => a - b)) {
    out.push(
      `<line x1="${px(x).toFixed(1)}" y1="${top + MARGIN.top}" x2="${px(x).toFixed(1)}" y2="${top + MARGIN.top + plotH}" class="grid"/>`,
    );
    out.push(`<text x="${px(x).toFixed(1)}" y="${top + MARGIN.top + plotH + 14}" class="tick" text-anchor="middle">${x}</text>`);
  }
  for (const v of yTicks(y0, y1, logY)) {
    out.push(
      `<line x1="${left + MARGIN.left}" y1="${py(v).toFixed(1)}" x2="${left + MARGIN.left + plotW}" y2="${py(v).toFixed(1)}" class="grid"/>`,
    );
    out.push(`<text x="${left + MARGIN.left - 4}" y="${(py(v) + 3).toFixed(1)}" class="tick" text-anchor="end">${formatTick(v)}</text>`);
  }
  out.push(
    `<line x1="${left + MARGIN.left}" y1="${top + MARGIN.top + plotH}" x2="${left + MARGIN.left + plotW}" y2="${top + MARGIN.top + plotH}" class="axis"/>`,
    `<line x1="${left + MARGIN.left}" y1="${top + MARGIN.top}" x2="${left + MARGIN.left}" y2="${top + MARGIN.top + plotH}" class="axis"/>`,
    `<text x="${left + MARGIN.left + plotW / 2}" y="${top + PANEL_HEIGHT - 8}" class="tick" text-anchor="middle">${escapeXml(xLabel)}</text>`,
    `<text x="${left + 12}" y="${top + MARGIN.top + plotH / 2}" class="tick" text-anchor="middle" transform="rotate(-90 ${left + 12} ${top + MARGIN.top + plotH / 2})">${escapeXml(yLabel)}${logY ? " (log)" : ""}</text>`,
  );
  for (const s of series) {
    if (s.points.length === 0) continue;
    const path = s.points.map(([x, v], i) => `${i === 0 ? "M" : "L"}${px(x).toFixed(1)},${py(v).toFixed(1)}`).join(" ");
    out.push(`<path d="${path}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    for (const [x, v] of s.points) {
      out.push(
        `<circle cx="${px(x).toFixed(1)}" cy="${py(v).toFixed(1)}" r="3" fill="${s.color}"><title>${escapeXml(`${s.label}: ${x} → ${formatTick(v)}`)}</title></circle>`,
      );
    }
  }
  return out.join("\n");
}

/** Powers of ten (and their 2× and 5×) within a log range; five even steps on a linear one. */
function yTicks(y0: number, y1: number, log: boolean): number[] {
  if (!log) return Array.from({ length: 6 }, (_, i) => niceStep(y1 / 5) * i).filter((v) => v <= y1);
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(y0)); e <= Math.ceil(Math.log10(y1)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= y0 && v <= y1) ticks.push(v);
    }
  }
  return ticks;
}

function niceStep(raw: number): number {
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= raw)!;
}

function formatTick(v: number): string {
  if (v === 0) return "0";
  return v >= 100 ? v.toFixed(0) : v >= 1 ? String(Number(v.toPrecision(3))) : v.toPrecision(2);
}
