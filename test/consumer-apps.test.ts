// The packed package in fresh apps (scripts/consumer-apps.ts): ESM import, CommonJS require,
// TypeScript nodenext strict (CommonJS and ESM output), and an esbuild bundle without the package
// installed, each exporting the demo-shaped BERT to INT8 and embedding with the folder.
import { expect, test } from "vitest";
import { type AppRun, checkConsumerApps } from "../scripts/consumer-apps.js";
import { cosine } from "../src/quant/fidelity.js";

interface AppOutput {
  model: string;
  vectors: number[][];
}

function output(run: AppRun): AppOutput {
  expect({ app: run.app, code: run.code, stderr: run.stderr }).toEqual({ app: run.app, code: 0, stderr: "" });
  return JSON.parse(run.stdout) as AppOutput;
}

test("the packed package exports and embeds from ESM, CommonJS, TypeScript and an esbuild bundle", { timeout: 600_000 }, async () => {
  const report = await checkConsumerApps();

  const packed = report.packedFiles;
  for (const file of [
    "LICENSE",
    "NOTICE",
    "README.md",
    "package.json",
    "dist/index.js",
    "dist/index.d.ts",
    "dist/ort/session-worker.js",
    "dist/export/reference-worker.js",
    "data/tokenizers/bert-base-uncased/tokenizer.json",
  ]) {
    expect(packed).toContain(file);
  }
  expect(report.workerRelativeImports).toEqual([]); // the shipped workers are the bundles npm run build makes
  expect(packed.filter((f) => f.endsWith(".map") || (f.endsWith(".ts") && !f.endsWith(".d.ts")))).toEqual([]);

  expect(report.bundleWarnings).toEqual([]);
  expect(report.apps.map((a) => a.app)).toEqual(["esm", "cjs", "ts-commonjs", "ts-esm", "esbuild-bundle"]);
  const [first, ...others] = report.apps.map(output);
  expect(first!.model).toBe("demo-bert_int8_qdq.onnx");
  expect(first!.vectors.map((v) => v.length)).toEqual([64, 64]);
  for (const vector of first!.vectors) expect(Math.hypot(...vector)).toBeCloseTo(1, 4);
  for (const other of others) {
    expect(other.model).toBe(first!.model);
    other.vectors.forEach((vector, i) => expect(cosine(vector, first!.vectors[i]!)).toBeGreaterThan(0.9999));
  }

  // Without the worker scripts beside it, the bundle names the missing file, not the model.
  expect(report.workerless.code).toBe(1);
  expect(report.workerless.stderr).toMatch(/the worker script \S*session-worker\.js is missing/);
  expect(report.workerless.stderr).not.toMatch(/export the model again/);
});
