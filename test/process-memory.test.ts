import { fork } from "node:child_process";
import { writeFileSync } from "node:fs";
import { platform } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DescendantPeakRss } from "../src/bench/process-memory.js";
import { tempDir } from "./helpers/index.js";

describe("DescendantPeakRss", () => {
  it.runIf(platform() === "linux")("follows the tree down to a grandchild (whatever the order of their process ids)", async () => {
    const dir = tempDir();
    const grandchild = join(dir, "grand-hog.mjs");
    writeFileSync(grandchild, "const b = Buffer.alloc(64 * 2 ** 20, 1); setTimeout(() => process.exit(b[0] - 1), 600);\n");
    const parent = join(dir, "parent.mjs");
    writeFileSync(
      parent,
      `import { fork } from "node:child_process"; fork(${JSON.stringify(grandchild)}, [], { stdio: "ignore" }).once("exit", (code) => process.exit(code));\n`,
    );
    const peaks = new DescendantPeakRss(process.pid);
    const child = fork(parent, [], { stdio: "ignore" });
    await new Promise((resolve) => child.once("exit", resolve));
    const byName = peaks.stop()!;
    expect(byName["grand-hog"]).toBeGreaterThan(64 * 2 ** 20);
    expect(byName["parent"]).toBeGreaterThan(0);
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
