// Where the worker scripts are looked for, and what a missing one says (a bundle without them).
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";
import { WorkerScriptError, childModuleEntry, forkWorker } from "../src/ort/isolated-session.js";
import type { WorkerReply } from "../src/ort/protocol.js";

test("a worker is the sibling of the forking module: built JS as is, TypeScript sources through tsx", () => {
  expect(childModuleEntry("file:///app/dist/ort/isolated-session.js", "session-worker")).toEqual({
    path: "/app/dist/ort/session-worker.js",
    execArgv: [],
  });
  expect(childModuleEntry("file:///repo/src/ort/isolated-session.ts", "session-worker")).toEqual({
    path: "/repo/src/ort/session-worker.ts",
    execArgv: ["--import", "tsx"],
  });
});

test("without import.meta.url (a CommonJS bundle) the worker is looked for beside the module's __filename", () => {
  // vitest gives each module its own __filename, as a CommonJS bundle gives the bundle its own.
  expect(childModuleEntry(undefined, "session-worker")).toEqual({
    path: fileURLToPath(new URL("../src/ort/session-worker.ts", import.meta.url)),
    execArgv: ["--import", "tsx"],
  });
});

test("a missing worker script is a WorkerScriptError naming the file, before anything is started", () => {
  const fork = () => forkWorker("file:///nowhere/bundle/app.js", "session-worker", "pipe");
  expect(fork).toThrow(WorkerScriptError);
  expect(fork).toThrow(/the worker script \/nowhere\/bundle\/session-worker\.js is missing/);
});

test("the session worker runs from its TypeScript source under tsx, as childModuleEntry starts it there", async () => {
  // The suite's forks run the workers bundled once per run (test/helpers/compiled-workers.ts); this one does not.
  const entry = childModuleEntry(new URL("../src/ort/isolated-session.ts", import.meta.url).href, "session-worker");
  const child = spawn(process.execPath, [...entry.execArgv, entry.path], {
    stdio: ["ignore", "ignore", "inherit", "ipc"],
    serialization: "advanced",
  });
  try {
    const reply = new Promise<WorkerReply>((resolve, reject) => {
      child.once("message", resolve);
      child.once("exit", (code, signal) => reject(new Error(`the worker exited (${signal ?? code}) before replying`)));
    });
    child.send({ id: 1, kind: "collect" });
    expect(await reply).toMatchObject({ id: 1, ok: true });
  } finally {
    child.kill();
  }
});
