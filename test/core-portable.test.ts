// The compiler core (src/core.ts: config → checkpoint → arch → heads → graph writer → quant
// rewrites) runs wherever JavaScript does: bundled for the browser, nothing in it may reach for a
// Node module, Node's globals or the module's own location.
import { readFileSync } from "node:fs";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { loadEncoder } from "../src/arch/encoder-folder.js";
import { DEFAULT_OPSET } from "../src/graph/opset.js";
import { loadTokenizer } from "../src/artifact/tokenizer-folder.js";
import {
  MemorySink,
  PlannedModel,
  buildEncoderGraph,
  decodeModel,
  encodeModel,
  memoryModelFiles,
  openEncoder,
  openTokenizer,
} from "../src/core.js";
import { syntheticBert, writeModelFolder } from "../src/fixtures/index.js";
import { tempDir } from "./helpers/index.js";

/** Node globals and module lookups a browser does not have (comments aside). */
const NODE_ONLY = /\bBuffer\b|\bprocess\.|\bimport\.meta\b|\brequire\(|\b__dirname\b|\b__filename\b/;

function codeLines(source: string): string[] {
  return source
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .split("\n")
    .map((line) => line.replace(/\/\/.*$/, ""));
}

describe("the portable core", () => {
  it("bundles for the browser with no Node module, global or module lookup", async () => {
    const failures: string[] = [];
    const result = await build({
      entryPoints: ["src/core.ts"],
      bundle: true,
      platform: "browser",
      format: "esm",
      write: false,
      metafile: true,
      logLevel: "silent",
    }).catch((error: { errors?: Array<{ text: string; location?: { file: string } | null }> }) => {
      for (const e of error.errors ?? []) failures.push(`${e.location?.file ?? "?"}: ${e.text}`);
      return undefined;
    });
    expect(failures, "modules that pull in a Node built-in").toEqual([]);
    const ours = Object.keys(result!.metafile.inputs).filter((file) => file.startsWith("src/"));
    expect(ours).toContain("src/checkpoint/safetensors.ts");
    expect(ours).toContain("src/quant/static-qdq.ts");
    const nodeOnly = ours.flatMap((file) =>
      codeLines(readFileSync(file, "utf8")).flatMap((line, i) => (NODE_ONLY.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : [])),
    );
    expect(nodeOnly, "lines using Node globals").toEqual([]);
  });

  it("compiles a model held in memory to the same bytes as from disk, through a ByteSink, and tokenizes as from disk", async () => {
    const dir = writeModelFolder(join(tempDir(), "bert"), syntheticBert({ seed: 3 }));
    const files = memoryModelFiles(
      new Map(readdirSync(dir).map((name) => [name, new Uint8Array(readFileSync(join(dir, name)))])),
      "picked",
    );
    const options = { opset: DEFAULT_OPSET, variant: "primary", sentenceEmbedding: { pooling: "mean", normalize: true } } as const;
    const onDisk = loadEncoder(dir);
    const fromDisk = encodeModel(buildEncoderGraph(onDisk, options));
    onDisk.close();
    const encoder = openEncoder(files);
    try {
      const model = buildEncoderGraph(encoder, options);
      const planned = new PlannedModel(model, "model.onnx.data", { externalData: "never" });
      const sink = new MemorySink();
      await planned.writeModelFile(sink);
      const bytes = sink.bytes();
      expect(bytes.byteLength).toBe(planned.modelBytes);
      expect(Buffer.from(bytes).equals(Buffer.from(fromDisk))).toBe(true);
      expect(decodeModel(bytes).graph.initializers.length).toBe(model.graph.initializers.length);
      const text = "The tokenizer reads the same files from memory.";
      expect(openTokenizer(files).tokenizer.encode(text).ids).toEqual(loadTokenizer(dir).tokenizer.encode(text).ids);
    } finally {
      encoder.close();
    }
  });
});
