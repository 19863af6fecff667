// `npm run bench:browser [-- --runs N]`: the demo model exported to FP32 then INT8 (from the same
// FP32 stage, as the page does) in Node (onnxruntime-node, child processes) and in headless
// Chromium (the web/ page: onnxruntime-web WASM, one thread), runs interleaved; one line each,
// then the medians; kept in bench/results/browser.txt. Needs a Chromium (scripts/chromium.ts finds it).
import { join } from "node:path";
import { buildWeb } from "../scripts/build-web.js";
import { Chromium, findChromium } from "../scripts/chromium.js";
import { serveStatic } from "../scripts/serve-web.js";
import { silentLogger } from "../src/common/log.js";
import { EmbeddingService } from "../src/export/service.js";
import { DEMO_MODEL_NAME, DEMO_MODEL_SHAPE, demoModel } from "../src/fixtures/demo-model.js";
import { writeModelFolder } from "../src/fixtures/model-folder.js";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { keepOutput, median, numberOption } from "./common.js";

/** An installed package's version (read from its package.json: onnxruntime-web exports no ./package.json). */
const versionOf = (pkg: string) =>
  (JSON.parse(readFileSync(join(import.meta.dirname, "..", "node_modules", pkg, "package.json"), "utf8")) as { version: string }).version;

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
  const runs = numberOption("--runs", 3);
  const nodeSide = `onnxruntime-node ${versionOf("onnxruntime-node")}, child processes`;
  const webSide = `onnxruntime-web ${versionOf("onnxruntime-web")} WASM, 1 thread, Web Workers`;
  keepOutput("browser");
  const { server, url } = await serveStatic(await buildWeb());
  let browser: Chromium | undefined;
  console.log(`demo model (${DEMO_MODEL_SHAPE}) exported to FP32, then INT8 from that FP32 stage; seconds; ${runs} interleaved runs`);
  const seconds = { node: { fp32: [] as number[], int8: [] as number[] }, chromium: { fp32: [] as number[], int8: [] as number[] } };
  try {
    const chromium = (browser = Chromium.launch(binary));
    for (let run = 1; run <= runs; run++) {
      const node = await nodeRun();
      console.log(`node     run ${run}: FP32 ${node.fp32.toFixed(1)} s, INT8 ${node.int8.toFixed(1)} s (${nodeSide})`);
      const page = await chromium.newPage();
      await chromium.send("Page.enable", {}, page);
      const loaded = new Promise<void>((done) => chromium.on("Page.loadEventFired", (_params, session) => session === page && done()));
      await chromium.send("Page.navigate", { url }, page);
      await loaded;
      const outcome = await chromium.evaluate<{ seconds: { fp32: number; int8: number } }>(page, "window.exportDemo()");
      console.log(`chromium run ${run}: FP32 ${outcome.seconds.fp32.toFixed(1)} s, INT8 ${outcome.seconds.int8.toFixed(1)} s (${webSide})`);
      await chromium.send("Page.close", {}, page); // newPage gives the page's session, not its target id
      for (const [side, got] of [
        ["node", node],
        ["chromium", outcome.seconds],
      ] as const) {
        seconds[side].fp32.push(got.fp32);
        seconds[side].int8.push(got.int8);
      }
    }
    const m = (values: number[]) => median(values).toFixed(1);
    console.log("");
    console.log(
      `medians: FP32 node ${m(seconds.node.fp32)} s, chromium ${m(seconds.chromium.fp32)} s (×${(median(seconds.chromium.fp32) / median(seconds.node.fp32)).toFixed(1)}); ` +
        `INT8 node ${m(seconds.node.int8)} s, chromium ${m(seconds.chromium.int8)} s (×${(median(seconds.chromium.int8) / median(seconds.node.int8)).toFixed(1)})`,
    );
  } finally {
    await browser?.close();
    server.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
