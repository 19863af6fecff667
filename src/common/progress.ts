// Progress for library callers: `onProgress` receives one event per change of a long task
// (a Hub download, the graph build, quantization, embedding many texts). The CLI's progress
// bars and lines (export/progress.ts, Reporter) are drawn from these same events.

export type ProgressStage = "download" | "export" | "quantize" | "tokenizer" | "embed";

export interface ProgressEvent {
  stage: ProgressStage;
  /** What the task works on: the repository file for downloads, a description otherwise. */
  label: string;
  /** Units done so far. */
  done: number;
  /** Units in all; undefined when unknown (a download whose size the server did not send). */
  total: number | undefined;
  /** bytes (downloads), texts (embed) or steps. */
  unit: "bytes" | "texts" | "steps";
  /** "start" first, "progress" as it advances, then "done" or "failed" once. */
  status: "start" | "progress" | "done" | "failed";
}

/** Called synchronously on the task's thread of work; it should return quickly and not throw. */
export type ProgressCallback = (event: ProgressEvent) => void;

export interface ProgressTask {
  /** `n` more units done. */
  advance(n: number): void;
  done(): void;
  /** Ends the task without success (the error is reported elsewhere). */
  fail(): void;
}

export interface TaskInit {
  stage: ProgressStage;
  label: string;
  unit: ProgressEvent["unit"];
  total: number | undefined;
  /** Units done before the task started (a resumed download). */
  done?: number;
}

/** Reports a task through `onProgress` (nothing without one): its start event now, the rest as it goes. */
export function startTask(onProgress: ProgressCallback | undefined, init: TaskInit): ProgressTask {
  if (!onProgress) return { advance: () => {}, done: () => {}, fail: () => {} };
  let done = init.done ?? 0;
  let open = true;
  const send = (status: ProgressEvent["status"]) =>
    onProgress({ stage: init.stage, label: init.label, done, total: init.total, unit: init.unit, status });
  send("start");
  return {
    advance: (n) => {
      if (!open) return;
      done += n;
      send("progress");
    },
    done: () => {
      if (!open) return;
      open = false;
      if (init.total !== undefined && init.unit === "steps") done = init.total;
      send("done");
    },
    fail: () => {
      if (!open) return;
      open = false;
      send("failed");
    },
  };
}

/** Runs one long step as a task of a single unit: start, then done or failed. */
export async function withStep<T>(
  onProgress: ProgressCallback | undefined,
  stage: ProgressStage,
  label: string,
  work: () => Promise<T>,
): Promise<T> {
  const task = startTask(onProgress, { stage, label, unit: "steps", total: 1 });
  try {
    const result = await work();
    task.done();
    return result;
  } catch (error) {
    task.fail();
    throw error;
  }
}
