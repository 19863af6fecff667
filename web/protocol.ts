// Messages between the page (main.ts) and the export worker (export-worker.ts).
import type { ProgressEvent } from "../src/common/progress.js";

/** A file of the model folder: its path inside the folder ('/'-separated) and its bytes. */
export interface FolderFile {
  path: string;
  bytes: Uint8Array;
}

export type ExportRequest = { kind: "demo" } | { kind: "folder"; name: string; files: FolderFile[] };

/** One exported folder: "fp32" or "int8", and its files. */
export interface ExportedFolder {
  precision: "fp32" | "int8";
  /** The model file among `files`. */
  model: string;
  files: FolderFile[];
}

export interface ExportSummary {
  modelId: string;
  folders: ExportedFolder[];
  /** INT8 vs FP32 on the held-out texts (quantization_report.json). */
  worstCosine: number;
  /** Wall time of each export in the worker, in seconds. */
  seconds: { fp32: number; int8: number };
  /** How onnxruntime sessions were isolated ("web-worker" or "in-process"). */
  isolation: string;
}

export type ExportReply =
  | { kind: "log"; level: "info" | "warn"; message: string }
  | { kind: "progress"; event: ProgressEvent }
  | { kind: "done"; summary: ExportSummary }
  | { kind: "failed"; message: string };
