// The export, in a Web Worker: the model folder (picked by the user, or the demo model
// generated here) is written into an in-memory file system (shims/fs.ts), exported by the same
// EmbeddingService the CLI runs — FP32, then INT8 from the same verified FP32 graph — and the
// output folders' files are posted back. onnxruntime-web runs each session in a Web Worker of
// its own (in this worker's thread where workers cannot start workers).
import * as ort from "onnxruntime-web/wasm";
import { EmbeddingService } from "../src/export/service.js";
import { localOnlyResolver } from "../src/export/model-source.js";
import { DEMO_MODEL_NAME, demoModel } from "../src/fixtures/demo-model.js";
import { BUNDLED_TOKENIZER, writeModelFolder } from "../src/fixtures/model-folder.js";
import { type SessionIsolation, setSessionIsolation } from "../src/ort/isolated-session.js";
import { InProcessSession, WebWorkerSession } from "../src/ort/portable-session.js";
import { REPORT_FILE, type QuantizationReport } from "../src/quant/report.js";
import { errorMessage } from "../src/common/messages.js";
import type { Logger } from "../src/common/log.js";
import type { ProgressCallback } from "../src/common/progress.js";
import { fileBytes, putFile, readdirSync, statSync } from "./shims/fs.js";
import { configureOrtWeb } from "./ort-web.js";
import type { ExportReply, ExportRequest, ExportedFolder, FolderFile } from "./protocol.js";

configureOrtWeb(ort);

const isolation: SessionIsolation =
  typeof Worker === "function"
    ? {
        name: "web-worker",
        forksReference: false,
        start: (timeoutMs) =>
          new WebWorkerSession(new Worker(new URL("./session-worker.js", import.meta.url), { type: "module" }), fileBytes, timeoutMs),
      }
    : { name: "in-process", forksReference: false, start: () => new InProcessSession(ort, fileBytes) };
setSessionIsolation(isolation);

const post = (reply: ExportReply) => self.postMessage(reply);
const logger: Logger = {
  info: (message) => post({ kind: "log", level: "info", message }),
  warn: (message) => post({ kind: "log", level: "warn", message }),
};

/** The demo model's folder, generated here with the tokenizer the page serves beside this script. */
async function demoFolder(): Promise<string> {
  const response = await fetch(new URL("./data/tokenizers/bert-base-uncased/tokenizer.json", import.meta.url));
  if (!response.ok) throw new Error(`the bundled tokenizer is missing from the page's files (HTTP ${response.status})`);
  putFile(BUNDLED_TOKENIZER, new Uint8Array(await response.arrayBuffer()));
  logger.info(`generating the demo model ${DEMO_MODEL_NAME}`);
  writeModelFolder(`/${DEMO_MODEL_NAME}`, demoModel());
  return DEMO_MODEL_NAME;
}

function folderFiles(dir: string, precision: ExportedFolder["precision"], model: string): ExportedFolder {
  const files: FolderFile[] = readdirSync(dir, { recursive: true })
    .filter((name) => statSync(`${dir}/${name}`)!.isFile())
    .map((name) => ({ path: name, bytes: fileBytes(`${dir}/${name}`).slice() }));
  return { precision, model: model.slice(dir.length + 1), files };
}

async function exportBoth(request: ExportRequest): Promise<void> {
  let modelId: string;
  if (request.kind === "demo") modelId = await demoFolder();
  else {
    for (const file of request.files) putFile(`/${request.name}/${file.path}`, file.bytes);
    modelId = request.name;
  }
  // The folder's name is the model id, as `jazzmine-embed export <name>` run beside it records it.
  const service = new EmbeddingService(modelId, { logger, resolver: localOnlyResolver });
  const onProgress: ProgressCallback = (event) => post({ kind: "progress", event });
  let started = performance.now();
  const fp32 = await service.runExport("/out/fp32", { quantized: false, onProgress });
  const fp32Seconds = (performance.now() - started) / 1000;
  started = performance.now();
  const int8 = await service.runExport("/out/int8", { onProgress }, fp32.fp32);
  const int8Seconds = (performance.now() - started) / 1000;
  const report = JSON.parse(new TextDecoder().decode(fileBytes(`/out/int8/${REPORT_FILE}`))) as QuantizationReport;
  post({
    kind: "done",
    summary: {
      modelId,
      folders: [folderFiles("/out/fp32", "fp32", fp32.path), folderFiles("/out/int8", "int8", int8.path)],
      worstCosine: report.fidelity.worstCosine,
      seconds: { fp32: fp32Seconds, int8: int8Seconds },
      isolation: isolation.name,
    },
  });
}

let busy = false;
self.onmessage = (event: MessageEvent<ExportRequest>) => {
  // One export per worker: its in-memory files are the export's alone (the page starts a fresh worker).
  if (busy) return post({ kind: "failed", message: "this export worker has already run an export" });
  busy = true;
  exportBoth(event.data).catch((error: unknown) => post({ kind: "failed", message: errorMessage(error) }));
};
