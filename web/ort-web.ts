// onnxruntime-web as the page uses it: the WASM backend, single-threaded (threads need a
// cross-origin-isolated page), its .wasm file served beside the bundle, never from a CDN.
import type * as ort from "onnxruntime-web/wasm";

export function configureOrtWeb(api: typeof ort): void {
  api.env.wasm.numThreads = 1;
  api.env.wasm.proxy = false;
  // Only the binary: the bundle carries its JavaScript glue (a prefix would fetch that too).
  api.env.wasm.wasmPaths = { wasm: new URL("./ort-wasm-simd-threaded.wasm", import.meta.url).href };
  api.env.logLevel = "error";
}
