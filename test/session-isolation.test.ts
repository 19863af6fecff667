// The isolation strategies run the same SessionCore: a session in this thread (onnxruntime-node
// given as an onnxruntime-common API, the model's bytes read by the caller) answers what the
// child-process session answers.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterEach, describe, expect, test } from "vitest";
import { buildEncoderGraph } from "../src/heads/graph.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { writeModel } from "../src/graph/onnx-file.js";
import { batchFeeds } from "../src/ort/feeds.js";
import { IsolatedSession, childProcessIsolation, sessionIsolation, setSessionIsolation } from "../src/ort/isolated-session.js";
import { InProcessSession, WebWorkerSession, type WorkerPort, serveSessionRequests } from "../src/ort/portable-session.js";
import type { WorkerRequest } from "../src/ort/protocol.js";
import { SessionCore } from "../src/ort/session-core.js";
import { withAbortSignal } from "../src/common/abort.js";
import { randomBatch } from "../src/fixtures/batches.js";
import { syntheticEncoder, tempDir } from "./helpers/index.js";

afterEach(() => setSessionIsolation(childProcessIsolation));

describe("session isolation", () => {
  test("a session in this thread, fed the model's bytes, answers as the child process does", async () => {
    const encoder = syntheticEncoder(syntheticBert({ seed: 31 }));
    const path = join(tempDir(), "m.onnx");
    await writeModel(buildEncoderGraph(encoder, { opset: 17, variant: "portable" }), path);
    const feeds = batchFeeds(randomBatch(encoder.config, { batch: 2, sequence: 5 }), ["input_ids", "attention_mask"]);
    const child = await IsolatedSession.open(path);
    const local = new InProcessSession(ort, (file) => readFileSync(file));
    try {
      await local.load(path);
      expect(local.inputNames).toEqual(child.inputNames);
      const [fromChild, fromLocal] = await Promise.all([child.run(feeds), local.run(feeds)]);
      expect(fromLocal.last_hidden_state!.dims).toEqual(fromChild.last_hidden_state!.dims);
      expect(fromLocal.last_hidden_state!.data).toEqual(fromChild.last_hidden_state!.data);
      await local.observe(feeds, { tensors: [{ name: "last_hidden_state", observer: "minmax" }] });
      expect(await local.collectStatistics()).toEqual(
        await child.observe(feeds, { tensors: [{ name: "last_hidden_state", observer: "minmax" }] }).then(() => child.collectStatistics()),
      );
    } finally {
      child.close();
      local.close();
    }
    await expect(local.run(feeds)).rejects.toThrow(/the onnxruntime session was closed; cannot use .*m\.onnx/);
  });

  test("a Web Worker session sends a copy of the model's bytes with the load, and answers as the child process does", async () => {
    const encoder = syntheticEncoder(syntheticBert({ seed: 32 }));
    const path = join(tempDir(), "w.onnx");
    await writeModel(buildEncoderGraph(encoder, { opset: 17, variant: "portable" }), path);
    const fileBytes = readFileSync(path);
    // A worker port as a DOM Worker behaves: messages structured-cloned with their transfer list, answered by a SessionCore.
    let toWorker: (request: WorkerRequest) => void = () => {};
    let terminated = false;
    const port: WorkerPort = {
      postMessage: (message, transfer) => toWorker(structuredClone(message, { transfer }) as WorkerRequest),
      terminate: () => (terminated = true),
      onmessage: null,
      onerror: null,
    };
    serveSessionRequests(
      new SessionCore(ort),
      (handler) => (toWorker = handler),
      (reply) => port.onmessage?.({ data: reply }),
    );
    const session = new WebWorkerSession(port, () => fileBytes);
    const child = await IsolatedSession.open(path);
    try {
      await session.load(path);
      expect(fileBytes.byteLength).toBe(readFileSync(path).byteLength); // the caller's bytes were not transferred away
      const feeds = batchFeeds(randomBatch(encoder.config, { batch: 2, sequence: 4 }), session.inputNames);
      expect((await session.run(feeds)).last_hidden_state!.data).toEqual((await child.run(feeds)).last_hidden_state!.data);
    } finally {
      child.close();
      session.close();
    }
    expect(terminated).toBe(true);
    await expect(session.run({})).rejects.toThrow(/the onnxruntime Web Worker was closed; cannot use .*w\.onnx/);
  });

  test("IsolatedSession.start follows the strategy set", async () => {
    const started: string[] = [];
    setSessionIsolation({
      name: "in-process",
      forksReference: false,
      start: () => {
        started.push("in-process");
        return new InProcessSession(ort, undefined);
      },
    });
    expect(sessionIsolation().name).toBe("in-process");
    const session = IsolatedSession.start();
    expect(session.pid).toBeUndefined();
    session.close();
    expect(started).toEqual(["in-process"]);
  });
});

describe("closing a session while it runs", () => {
  /** An onnxruntime stand-in whose run ends when the test says, recording what happens in order. */
  function fakeApi(events: string[]) {
    let finishRun: () => void = () => {};
    const session = {
      inputNames: ["input_ids"],
      outputNames: ["out"],
      run: () =>
        new Promise((resolve) => {
          events.push("run started");
          finishRun = () => {
            events.push("run ended");
            resolve({ out: { type: "float32", data: new Float32Array(1), dims: [1] } });
          };
        }),
      release: async () => {
        events.push("released");
      },
    };
    const api = {
      InferenceSession: { create: async () => session },
      Tensor: class {
        constructor(
          readonly type: string,
          readonly data: unknown,
          readonly dims: readonly number[],
        ) {}
      },
    } as unknown as ConstructorParameters<typeof SessionCore>[0];
    return { api, finishRun: () => finishRun() };
  }

  test("an in-process session fails the pending run at once but releases onnxruntime's session only after the run ends", async () => {
    const events: string[] = [];
    const { api, finishRun } = fakeApi(events);
    const local = new InProcessSession(api, () => new Uint8Array(0));
    await local.load("m.onnx");
    const running = local.run({ input_ids: { type: "int64", data: new BigInt64Array(1), dims: [1, 1] } });
    await new Promise((resolve) => setImmediate(resolve));
    const closed = local.close();
    await expect(running).rejects.toThrow("the onnxruntime session was closed");
    expect(events).toEqual(["run started"]);
    finishRun();
    await closed;
    expect(events).toEqual(["run started", "run ended", "released"]);
  });

  test("a session started under a signal that already fired forks nothing and is not half-built", async () => {
    const controller = new AbortController();
    controller.abort(new Error("stopped"));
    await withAbortSignal(controller.signal, async () => {
      expect(() => IsolatedSession.start()).toThrow("stopped");
      const local = new InProcessSession(fakeApi([]).api, () => new Uint8Array(0));
      await expect(local.load("m.onnx")).rejects.toThrow("closed");
    });
  });
});
