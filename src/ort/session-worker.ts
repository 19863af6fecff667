// Child process hosting one onnxruntime session. onnxruntime can crash natively (SIGSEGV)
// on graphs it dislikes; in a child that is an ordinary, reportable failure.
import * as ort from "onnxruntime-node";
import { SessionCore } from "./session-core.js";
import type { WorkerRequest } from "./protocol.js";
import { errorMessage } from "../common/messages.js";

const core = new SessionCore(ort);

/**
 * Tests prove that a native onnxruntime crash is survived; no graph crashes onnxruntime on
 * demand, so a worker whose environment names this model path kills itself as a crash would.
 */
const crashMarker = process.env.JAZZMINE_SIMULATE_ORT_CRASH;
function simulateCrashForTests(request: WorkerRequest): void {
  if (crashMarker && request.kind === "load" && request.modelPath.includes(crashMarker)) process.kill(process.pid, "SIGSEGV");
}

process.on("message", (request: WorkerRequest) => {
  simulateCrashForTests(request);
  core.handle(request).then(
    (reply) => process.send!(reply),
    (error: unknown) => process.send!({ id: request.id, ok: false, error: errorMessage(error) }),
  );
});
process.on("disconnect", () => process.exit(0));
