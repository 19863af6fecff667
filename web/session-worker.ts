// A Web Worker hosting one onnxruntime-web session (the browser's SessionIsolation): it answers
// the worker protocol exactly as the Node child process (src/ort/session-worker.ts) does.
import * as ort from "onnxruntime-web/wasm";
import { serveSessionRequests } from "../src/ort/portable-session.js";
import type { WorkerReply, WorkerRequest } from "../src/ort/protocol.js";
import { SessionCore } from "../src/ort/session-core.js";
import { configureOrtWeb } from "./ort-web.js";

configureOrtWeb(ort);
serveSessionRequests(
  new SessionCore(ort),
  (handler) => (self.onmessage = (event: MessageEvent<WorkerRequest>) => handler(event.data)),
  (reply: WorkerReply) => self.postMessage(reply),
);
