// The page: gathers the model folder (directory input or File System Access API) or asks for the
// demo model, runs the export in a Web Worker, shows its progress and offers the files.
import type { ExportReply, ExportRequest, ExportSummary, FolderFile } from "./protocol.js";

/** Files a model export never reads: other frameworks' weights and other exports. */
const UNUSED = /(^|\/)(\.git|onnx|openvino|coreml)\/|\.(h5|msgpack|ot|onnx|onnx_data|gguf)$/;

const element = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = element<HTMLSpanElement>("status");
const stop = element<HTMLButtonElement>("stop");
const progress = element<HTMLProgressElement>("progress");
const log = element<HTMLDivElement>("log");
const results = element<HTMLDivElement>("results");

function say(message: string, failed = false): void {
  status.textContent = message;
  status.className = failed ? "failed" : "";
}

function appendLog(line: string): void {
  log.textContent += `${line}\n`;
  log.scrollTop = log.scrollHeight;
}

/** The weights an export reads: safetensors when the folder has them, else pytorch_model.bin. */
function wanted(paths: string[]): (path: string) => boolean {
  const safetensors = paths.some((p) => p.endsWith(".safetensors"));
  return (path) => !UNUSED.test(path) && !(safetensors && /pytorch_model.*\.bin$/.test(path));
}

async function filesOf(entries: Array<{ path: string; file: () => Promise<File> }>): Promise<FolderFile[]> {
  const keep = wanted(entries.map((e) => e.path));
  return Promise.all(
    entries.filter((e) => keep(e.path)).map(async (e) => ({ path: e.path, bytes: new Uint8Array(await (await e.file()).arrayBuffer()) })),
  );
}

/** The directory input's files: their paths start with the folder's name. */
async function fromInput(list: FileList): Promise<ExportRequest> {
  const files = [...list];
  const name = files[0]?.webkitRelativePath.split("/")[0] ?? "model";
  const entries = files.map((f) => ({ path: f.webkitRelativePath.slice(name.length + 1), file: async () => f }));
  return { kind: "folder", name, files: await filesOf(entries) };
}

interface DirectoryHandle {
  name: string;
  kind: "directory";
  values(): AsyncIterable<DirectoryHandle | { kind: "file"; name: string; getFile(): Promise<File> }>;
}

async function fromDirectory(root: DirectoryHandle): Promise<ExportRequest> {
  const entries: Array<{ path: string; file: () => Promise<File> }> = [];
  const walk = async (dir: DirectoryHandle, prefix: string): Promise<void> => {
    for await (const entry of dir.values()) {
      if (entry.kind === "directory") await walk(entry, `${prefix}${entry.name}/`);
      else entries.push({ path: `${prefix}${entry.name}`, file: () => entry.getFile() });
    }
  };
  await walk(root, "");
  return { kind: "folder", name: root.name, files: await filesOf(entries) };
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** What a caller (the browser test) learns of an export: the summary with each file's size and SHA-256 instead of its bytes. */
export interface ExportOutcome extends Omit<ExportSummary, "folders"> {
  folders: Array<{ precision: string; model: string; files: Array<{ path: string; size: number; sha256: string }> }>;
}

function showResults(summary: ExportSummary): void {
  results.replaceChildren();
  const heading = document.createElement("h2");
  heading.textContent = `${summary.modelId}: INT8 worst cosine vs FP32 ${summary.worstCosine.toFixed(4)}`;
  results.append(heading);
  for (const folder of summary.folders) {
    const title = document.createElement("h3");
    title.textContent = `${folder.precision.toUpperCase()} (${(folder.precision === "fp32" ? summary.seconds.fp32 : summary.seconds.int8).toFixed(1)} s)`;
    const table = document.createElement("table");
    for (const file of folder.files) {
      const row = table.insertRow();
      const link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob([file.bytes as BlobPart]));
      link.download = `${folder.precision}-${file.path.replaceAll("/", "-")}`;
      link.textContent = file.path;
      row.insertCell().append(link);
      row.insertCell().textContent = `${(file.bytes.length / 2 ** 20).toFixed(2)} MiB`;
    }
    results.append(title, table);
  }
}

function runExport(request: ExportRequest): Promise<ExportOutcome> {
  results.replaceChildren();
  log.textContent = "";
  say("exporting…");
  const worker = new Worker(new URL("./export-worker.js", import.meta.url), { type: "module" });
  const transfer = request.kind === "folder" ? request.files.map((f) => f.bytes.buffer as ArrayBuffer) : [];
  return new Promise<ExportOutcome>((resolve, reject) => {
    const fail = (message: string) => {
      say(`export failed: ${message}`, true);
      stop.hidden = true;
      worker.terminate();
      reject(new Error(message));
    };
    // Ending the worker ends its onnxruntime workers and drops its in-memory files: nothing is left.
    stop.hidden = false;
    stop.onclick = () => fail("stopped");
    worker.onerror = (event) => fail(event.message || "the export worker could not start");
    worker.onmessage = async ({ data }: MessageEvent<ExportReply>) => {
      if (data.kind === "log") appendLog(data.level === "warn" ? `warning: ${data.message}` : data.message);
      else if (data.kind === "progress") {
        const { event } = data;
        say(`${event.label}${event.status === "done" ? " ✓" : "…"}`);
        progress.max = event.total ?? 1;
        progress.value = event.status === "done" ? progress.max : event.done;
      } else if (data.kind === "failed") fail(data.message);
      else {
        stop.hidden = true;
        worker.terminate();
        const { summary } = data;
        say(`done: FP32 and INT8 verified (onnxruntime-web sessions isolated: ${summary.isolation})`);
        showResults(summary);
        const folders = await Promise.all(
          summary.folders.map(async (folder) => ({
            precision: folder.precision,
            model: folder.model,
            files: await Promise.all(
              folder.files.map(async (f) => ({ path: f.path, size: f.bytes.length, sha256: await sha256(f.bytes) })),
            ),
          })),
        );
        resolve({ ...summary, folders });
      }
    };
    worker.postMessage(request, transfer);
  });
}

declare global {
  interface Window {
    /** Exports the demo model (the browser test calls it). */
    exportDemo(): Promise<ExportOutcome>;
    showDirectoryPicker?: () => Promise<DirectoryHandle>;
  }
}

window.exportDemo = () => runExport({ kind: "demo" });
const ignore = () => {}; // a failure is on the page already
element<HTMLButtonElement>("demo").onclick = () => void runExport({ kind: "demo" }).catch(ignore);
element<HTMLInputElement>("folder").onchange = (event) => {
  const list = (event.target as HTMLInputElement).files;
  if (list && list.length > 0) void fromInput(list).then(runExport).catch(ignore);
};
const pick = element<HTMLButtonElement>("pick");
if (window.showDirectoryPicker) {
  pick.hidden = false;
  pick.onclick = () =>
    void window.showDirectoryPicker!()
      .then(fromDirectory)
      .then(runExport)
      .catch((e: Error) => say(e.message, true));
}
