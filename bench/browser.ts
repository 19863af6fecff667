// `npm run bench:browser [-- runs]`: the demo model exported to FP32 then INT8 (from the same
// FP32 stage, as the page does) in Node (onnxruntime-node, child processes) and in headless
// Chromium (the web/ page: onnxruntime-web WASM, one thread), runs interleaved; one line each.
// Needs a Chromium (scripts/chromium.ts finds it).
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { buildWeb } from "../scripts/build-web.js";
import { Chromium, findChromium } from "../scripts/chromium.js";
import { serveStatic } from "../scripts/serve-web.js";
import { silentLogger } from "../src/common/log.js";
import { EmbeddingService } from "../src/export/service.js";
import { DEMO_MODEL_NAME, DEMO_MODEL_SHAPE, demoModel } from "../src/fixtures/demo-model.js";
import { writeModelFolder } from "../src/fixtures/model-folder.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";

async function nodeRun(): Promise<{ fp32: number; int8: number }> {
  const root = mkdtempSync(join(tmpdir(), "jazzmine-bench-browser-"));
  try {
    const source = join(root, DEMO_MODEL_NAME);
    writeModelFolder(source, demoModel()); // the page's clock, too, starts once the folder exists
    const started = performance.now();
    const service = new EmbeddingService(DEMO_MODEL_NAME, { logger: silentLogger, resolver: { resolve: async () => source } });
    const fp32 = await service.runExport(join(root, "fp32"), { quantized: false });
    const fp32Seconds = (performance.now() - started) / 1000;
    const int8Started = performance.now();
    await service.runExport(join(root, "int8"), {}, fp32.fp32);
    return { fp32: fp32Seconds, int8: (performance.now() - int8Started) / 1000 };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const binary = findChromium();
  if (!binary) throw new Error("no Chromium found (chromium, chromium-browser, google-chrome or $CHROMIUM)");
  const runs = Number(process.argv[2] ?? 1);
  const { server, url } = await serveStatic(await buildWeb());
  const browser = Chromium.launch(binary);
  const load = loadavg()[0]!.toFixed(1);
  console.log(
    `# demo model (${DEMO_MODEL_SHAPE}) FP32 then INT8, seconds; ${cpus().length} cores (${cpus()[0]?.model.trim()}), load average ${load} at start; node ${process.version}`,
  );
  try {
    for (let run = 1; run <= runs; run++) {
      const node = await nodeRun();
      console.log(
        `node     run ${run}: FP32 ${node.fp32.toFixed(1)} s, INT8 ${node.int8.toFixed(1)} s (onnxruntime-node 1.30.0, child processes)`,
      );
      const page = await browser.newPage();
      await browser.send("Page.enable", {}, page);
      const loaded = new Promise<void>((done) => browser.on("Page.loadEventFired", (_params, session) => session === page && done()));
      await browser.send("Page.navigate", { url }, page);
      await loaded;
      const outcome = await browser.evaluate<{ seconds: { fp32: number; int8: number } }>(page, "window.exportDemo()");
      console.log(
        `chromium run ${run}: FP32 ${outcome.seconds.fp32.toFixed(1)} s, INT8 ${outcome.seconds.int8.toFixed(1)} s (onnxruntime-web 1.30.0 WASM, 1 thread, Web Workers)`,
      );
      await browser.send("Page.close", {}, page); // newPage gives the page's session, not its target id
    }
  } finally {
    await browser.close();
    server.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
