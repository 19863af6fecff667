import { fork } from "node:child_process";
import { writeFileSync } from "node:fs";
import { platform } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DescendantPeakRss, descendantsOf } from "../src/bench/process-memory.js";
import { tempDir } from "./helpers/index.js";

describe("DescendantPeakRss", () => {
  it("finds descendants whose process ids are lower than the root's (ids wrap at pid_max)", () => {
    // 900 → 40 → 7 after a wrap; 950 is the root's sibling; 41 → 40 is a grandchild's sibling.
    const parents = new Map([
      [40, 900],
      [7, 40],
      [41, 40],
      [950, 1],
      [12, 950],
    ]);
    expect(descendantsOf(900, parents).sort((a, b) => a - b)).toEqual([7, 40, 41]);
    // A cycle in a snapshot read while ids were reused ends the walk instead of looping.
    expect(
      descendantsOf(
        900,
        new Map([
          [5, 6],
          [6, 5],
        ]),
      ),
    ).toEqual([]);
  });

  it.runIf(platform() === "linux")("records a child's peak memory under its script's name", async () => {
    const script = join(tempDir(), "memory-hog.mjs");
    writeFileSync(script, "const b = Buffer.alloc(96 * 2 ** 20, 1); setTimeout(() => process.exit(b[0] - 1), 600);\n");
    const peaks = new DescendantPeakRss(process.pid);
    const child = fork(script, [], { stdio: "ignore" });
    await new Promise((resolve) => child.once("exit", resolve));
    const byName = peaks.stop()!;
    expect(byName["memory-hog"]).toBeGreaterThan(96 * 2 ** 20);
  });
});
