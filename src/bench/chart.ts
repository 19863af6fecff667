// The SVG chart of a result: one panel per input shape (each on its own scale, since 1×16 and
// 32×128 differ by orders of magnitude), a bar per variant at its p50 latency with a whisker to
// p95. Plain SVG 1.1, no scripts or external resources: it opens in any browser.
import { ms } from "./markdown.js";
import type { BenchResult } from "./result.js";
import { shapeLabel } from "./shapes.js";

const WIDTH = 820;
const LABEL_WIDTH = 130;
const VALUE_WIDTH = 150;
const BAR_HEIGHT = 18;
const BAR_GAP = 6;
const PANEL_TITLE = 24;
const PANEL_GAP = 18;
const HEADER = 58;
const COLORS: Record<string, string> = {
  fp32: "#4c72b0",
  "fp32-portable": "#9a9a9a",
  "int8-static": "#dd8452",
  "int8-dynamic": "#55a868",
  fp16: "#8172b3",
  int4: "#c44e52",
};

export function renderChart(result: BenchResult): string {
  const labels = new Map<string, string>(result.exports.map((e) => [e.variant, e.label]));
  const barArea = WIDTH - LABEL_WIDTH - VALUE_WIDTH - 20;
  const parts: string[] = [];
  let y = HEADER;
  for (const shape of result.latency) {
    const rows = shape.results;
    const scale = Math.max(...rows.map((r) => r.p95Ms), 1e-9) * 1.05;
    parts.push(
      `<text x="10" y="${y + 16}" class="panel">${escapeXml(shapeLabel(shape.shape))} (batch × sequence) — p50 latency, whisker to p95, ${shape.rounds} rounds</text>`,
    );
    y += PANEL_TITLE;
    for (const r of rows) {
      const width = Math.max(1, (r.p50Ms / scale) * barArea);
      const whisker = LABEL_WIDTH + (r.p95Ms / scale) * barArea;
      const color = COLORS[r.variant] ?? "#777";
      const mid = y + BAR_HEIGHT / 2;
      parts.push(
        `<text x="${LABEL_WIDTH - 8}" y="${mid + 4}" class="label" text-anchor="end">${escapeXml(labels.get(r.variant) ?? r.variant)}</text>`,
        `<rect x="${LABEL_WIDTH}" y="${y}" width="${width.toFixed(1)}" height="${BAR_HEIGHT}" fill="${color}"><title>${escapeXml(`${labels.get(r.variant) ?? r.variant}: p50 ${r.p50Ms.toFixed(3)} ms, p95 ${r.p95Ms.toFixed(3)} ms`)}</title></rect>`,
        `<line x1="${(LABEL_WIDTH + width).toFixed(1)}" y1="${mid}" x2="${whisker.toFixed(1)}" y2="${mid}" class="whisker"/>`,
        `<line x1="${whisker.toFixed(1)}" y1="${y + 4}" x2="${whisker.toFixed(1)}" y2="${y + BAR_HEIGHT - 4}" class="whisker"/>`,
        `<text x="${LABEL_WIDTH + barArea + 10}" y="${mid + 4}" class="value">${escapeXml(`${ms(r.p50Ms)} (${r.ratioToBaseline.toFixed(2)}×)`)}</text>`,
      );
      y += BAR_HEIGHT + BAR_GAP;
    }
    y += PANEL_GAP;
  }
  const height = y + 10;
  const title = `${result.model.id} — inference latency per variant (ratio: median per-round ratio to ${labels.get(result.latency[0]?.baseline ?? "") ?? "the first variant"})`;
  const m = result.machine;
  const subtitle = `${result.startedAt.slice(0, 10)} · ${m.cpu}, ${m.cores} cores${m.virtualMachine ? " (VM)" : ""} · onnxruntime-node ${m.onnxruntime}, ${result.settings.threads} thread(s)`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    "<style>.title{font-size:14px;font-weight:bold}.subtitle{font-size:11px;fill:#555}.panel{font-size:12px;font-weight:bold;fill:#333}.label,.value{font-size:12px;fill:#222}.whisker{stroke:#333;stroke-width:1.2}</style>",
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="22" class="title">${escapeXml(title)}</text>`,
    `<text x="10" y="42" class="subtitle">${escapeXml(subtitle)}</text>`,
    ...parts,
    "</svg>",
    "",
  ].join("\n");
}

/** Text safe inside SVG elements and attribute values. */
export function escapeXml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");
}
