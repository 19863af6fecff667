// The browser page (web/) in headless Chromium: it exports the demo model in onnxruntime-web,
// with nothing fetched but the loopback server's files, and its FP32 graph is byte for byte the
// Node export's; INT8 keeps the cosine the quantizer promises. Without a Chromium on this machine
// the file says so and runs nothing (.ci/run installs Debian's chromium).
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { buildWeb } from "../scripts/build-web.js";
import { serveStatic } from "../scripts/serve-web.js";
import { silentLogger } from "../src/common/log.js";
import { EmbeddingService } from "../src/export/service.js";
import { DEMO_MODEL_NAME, demoModel } from "../src/fixtures/demo-model.js";
import { writeModelFolder } from "../src/fixtures/model-folder.js";
import { Chromium, findChromium } from "../scripts/chromium.js";
import { tempDir } from "./helpers/index.js";

const binary = findChromium();
if (!binary) {
  console.warn(
    "browser-export.test.ts: skipped: no Chromium found (chromium, chromium-browser, google-chrome or $CHROMIUM); .ci/run installs Debian's chromium",
  );
}

/** What window.exportDemo() answers (web/main.ts ExportOutcome). */
interface Outcome {
  modelId: string;
  worstCosine: number;
  isolation: string;
  seconds: { fp32: number; int8: number };
  folders: Array<{ precision: string; model: string; files: Array<{ path: string; size: number; sha256: string }> }>;
}

/** The Node export of the same demo model under the same model id: its FP32 model file's name and SHA-256. */
async function nodeFp32(): Promise<{ name: string; sha256: string }> {
  const root = tempDir();
  const source = join(root, DEMO_MODEL_NAME);
  writeModelFolder(source, demoModel());
  const service = new EmbeddingService(DEMO_MODEL_NAME, { logger: silentLogger, resolver: { resolve: async () => source } });
  const { path } = await service.runExport(join(root, "out"), { quantized: false });
  return { name: path.slice(join(root, "out").length + 1), sha256: createHash("sha256").update(readFileSync(path)).digest("hex") };
}

describe.runIf(binary)("the browser page", () => {
  let server: Server;
  let url: string;
  const requested: string[] = [];
  let browser: Chromium;

  beforeAll(async () => {
    ({ server, url } = await serveStatic(await buildWeb(), 0, (path) => requested.push(path)));
    browser = Chromium.launch(binary!);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    server?.close();
  });

  test("exports the demo model: FP32 bytes equal the Node export's, INT8 close to FP32, nothing fetched from elsewhere", async () => {
    const node = nodeFp32();
    const page = await browser.newPage();
    const fetched: string[] = [];
    browser.on("Network.requestWillBeSent", (params) => fetched.push((params.request as { url: string }).url));
    await browser.send("Network.enable", {}, page);
    await browser.send("Page.enable", {}, page);
    const loaded = new Promise<void>((done) => browser.on("Page.loadEventFired", () => done()));
    await browser.send("Page.navigate", { url }, page);
    await loaded;
    const outcome = await browser.evaluate<Outcome>(page, "window.exportDemo()");
    console.log(
      `browser export of the demo model: FP32 ${outcome.seconds.fp32.toFixed(1)} s, INT8 ${outcome.seconds.int8.toFixed(1)} s (onnxruntime-web, one thread)`,
    );

    const [fp32, int8] = outcome.folders;
    expect(fp32!.precision).toBe("fp32");
    expect(int8!.precision).toBe("int8");
    const expected = await node;
    expect(fp32!.model).toBe(expected.name);
    expect(fp32!.files.find((f) => f.path === fp32!.model)!.sha256).toBe(expected.sha256);
    expect(outcome.worstCosine).toBeGreaterThan(0.99);
    for (const folder of [fp32!, int8!])
      expect(folder.files.map((f) => f.path)).toEqual(expect.arrayContaining(["tokenizer.json", "export_manifest.json"]));
    expect(outcome.isolation).toBe("web-worker");
    // The page, its workers, the WASM binary and the tokenizer: all from the loopback server.
    expect(fetched.every((u) => u.startsWith(url) || u.startsWith("blob:") || u.startsWith("data:"))).toBe(true);
    expect(requested).toEqual(
      expect.arrayContaining(["/", "/main.js", "/export-worker.js", "/session-worker.js", "/ort-wasm-simd-threaded.wasm"]),
    );
  }, 300_000); // a guard against a hang, not a speed: a busy 2-core machine has taken 115 s
});
