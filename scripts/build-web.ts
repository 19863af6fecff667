// `npm run build:web`: the browser page (web/) as static files in web/dist — the page, its
// export and session workers, onnxruntime-web's WASM binary and the bundled tokenizer — so that
// the page fetches nothing from another origin. Node built-ins resolve to web/shims.
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const WEB = join(ROOT, "web");
const WEB_DIST = join(WEB, "dist");

const SHIMS: Record<string, string> = {
  "node:fs": "fs.ts",
  "node:fs/promises": "promises.ts",
  "node:path": "path.ts",
  "node:crypto": "crypto.ts",
  "node:zlib": "zlib.ts",
  "node:os": "os.ts",
  "node:url": "url.ts",
  "node:child_process": "child_process.ts",
  "node:async_hooks": "async_hooks.ts",
};

/** onnxruntime-web's single-threaded SIMD binary (ort.wasm.bundle loads it from env.wasm.wasmPaths). */
const ORT_WASM = "ort-wasm-simd-threaded.wasm";

export async function buildWeb(): Promise<string> {
  rmSync(WEB_DIST, { recursive: true, force: true });
  mkdirSync(join(WEB_DIST, "data", "tokenizers", "bert-base-uncased"), { recursive: true });
  await esbuild.build({
    entryPoints: ["main.ts", "export-worker.ts", "session-worker.ts"].map((name) => join(WEB, name)),
    outdir: WEB_DIST,
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    minify: true,
    sourcemap: false,
    logLevel: "warning",
    inject: [join(WEB, "shims", "globals.ts")],
    alias: {
      ...Object.fromEntries(Object.entries(SHIMS).map(([name, file]) => [name, join(WEB, "shims", file)])),
      // The runtime's in-thread session (src/ort/model-session.ts) names onnxruntime-node; the page has onnxruntime-web.
      "onnxruntime-node": "onnxruntime-web/wasm",
    },
  });
  const ortDist = dirname(createRequire(import.meta.url).resolve("onnxruntime-web/wasm"));
  copyFileSync(join(ortDist, ORT_WASM), join(WEB_DIST, ORT_WASM));
  copyFileSync(join(WEB, "index.html"), join(WEB_DIST, "index.html"));
  copyFileSync(
    join(ROOT, "data", "tokenizers", "bert-base-uncased", "tokenizer.json"),
    join(WEB_DIST, "data", "tokenizers", "bert-base-uncased", "tokenizer.json"),
  );
  return WEB_DIST;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  buildWeb().then(
    (dir) => console.log(`built the browser page in ${dir} (serve it over HTTP: npm run web)`),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exitCode = 1;
    },
  );
}
