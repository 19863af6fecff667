// bench:scale's SVG: per model a panel each for latency and peak RSS against the sequence length
// and against the batch, one line per graph variant through its points.
import { describe, expect, it } from "vitest";
import { type ScalePoint, renderScaleChart } from "../src/bench/scale-chart.js";

describe("renderScaleChart", () => {
  it("draws four panels per model, one line per variant each, every coordinate a number", () => {
    const points: ScalePoint[] = [];
    for (const variant of ["primary", "portable"]) {
      for (const sequence of [128, 1024, 8192])
        points.push({
          model: "rotary",
          variant,
          batch: 1,
          sequence,
          p50Ms: sequence / 10,
          runs: 3,
          loadedBytes: 2e8,
          peakBytes: 2e8 + sequence * 1e4,
        });
      for (const batch of [2, 4])
        points.push({
          model: "rotary",
          variant,
          batch,
          sequence: 1024,
          p50Ms: batch * 100,
          runs: 3,
          loadedBytes: 2e8,
          peakBytes: 3e8 * batch,
        });
    }
    const svg = renderScaleChart({
      title: "t",
      subtitle: "s",
      models: ["rotary"],
      variants: ["primary", "portable"],
      batchSweepSequence: 1024,
      points,
    });
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.match(/<path /g)?.length).toBe(4 * 2);
    // The batch sweep includes batch 1 at its sequence: 3 points per line (1, 2, 4).
    const paths = [...svg.matchAll(/<path d="([^"]+)"/g)].map((m) => m[1]!.split(" ").length);
    expect(paths).toEqual([3, 3, 3, 3, 3, 3, 3, 3]);
    expect(svg).not.toMatch(/NaN|Infinity/);
    expect(svg).toContain("rotary: peak RSS vs batch (sequence 1024)");
  });
});
