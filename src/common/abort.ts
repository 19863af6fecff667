// Stopping an export (Ctrl-C, SIGTERM, an AbortSignal from the caller). The export runs inside
// `withAbortSignal`; whatever starts a child process or runs a long loop under it asks
// `currentAbortSignal()`, so the signal reaches every onnxruntime and reference worker without
// being threaded through each call (and reaches workers that code added later starts, too).
import { AsyncLocalStorage } from "node:async_hooks";

const scope = new AsyncLocalStorage<AbortSignal>();

/**
 * An export stopped by its AbortSignal; `removed` names what it had written (staged) and removed
 * again, `kept` the user's files of the same names in `folder`, which it never touched.
 */
export class InterruptedError extends Error {
  constructor(
    readonly removed: readonly string[],
    readonly reason: unknown,
    readonly kept: readonly string[] = [],
    folder?: string,
  ) {
    super(
      `interrupted${reasonLabel(reason)}; removed ${removed.length > 0 ? `its staged ${removed.join(", ")}` : "nothing (nothing was written yet)"}` +
        (kept.length > 0 ? `; kept your ${kept.join(", ")}${folder ? ` in ${folder}` : ""} as they were` : ""),
    );
    this.name = "AbortError";
  }
}

/** "(SIGINT)" for a signal name given as the abort reason, nothing for other reasons. */
function reasonLabel(reason: unknown): string {
  return typeof reason === "string" && /^SIG[A-Z]+$/.test(reason) ? ` (${reason})` : "";
}

/** Runs `work` with `signal` as the current abort signal of everything it starts. */
export function withAbortSignal<T>(signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
  return signal ? scope.run(signal, work) : work();
}

export function currentAbortSignal(): AbortSignal | undefined {
  return scope.getStore();
}

/** Throws the current signal's reason once it has fired. */
export function throwIfAborted(): void {
  const signal = scope.getStore();
  if (signal?.aborted) throw signal.reason;
}

/** Calls `stop` when the current signal fires (at once if it has); returns the unsubscribe. */
export function onAbort(stop: () => void): () => void {
  const signal = scope.getStore();
  if (!signal) return () => {};
  if (signal.aborted) {
    stop();
    return () => {};
  }
  signal.addEventListener("abort", stop, { once: true });
  return () => signal.removeEventListener("abort", stop);
}

/** `promise`, or a rejection with the signal's reason as soon as the current signal fires. */
export function abortable<T>(promise: Promise<T>): Promise<T> {
  const signal = scope.getStore();
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const unsubscribe = onAbort(() => reject(signal.reason));
    promise.then(
      (value) => {
        unsubscribe();
        resolve(value);
      },
      (error: unknown) => {
        unsubscribe();
        reject(error);
      },
    );
  });
}
