// Globals the compiler's code reads in Node (injected by the browser build): Buffer, a process
// with a pid, an empty environment and a stderr that writes to the console, and setInterval
// answering Node's Timeout (unref: the heartbeat of a file lock, a progress spinner).
import { Buffer } from "buffer";

const PID = 1;

const browserProcess = {
  pid: PID,
  env: {} as Record<string, string | undefined>,
  versions: {} as Record<string, string>,
  stderr: { write: (text: string) => (console.warn(text.trimEnd()), true) },
  /** Only this "process" exists: signal 0 (a liveness probe) answers for it alone. */
  kill(pid: number, signal?: number | string): true {
    if (pid === PID && signal === 0) return true;
    const error: NodeJS.ErrnoException = new Error(`kill ESRCH ${pid}`);
    error.code = "ESRCH";
    throw error;
  },
};

/** The browser's interval, as a Timeout: clearInterval reads its id through Symbol.toPrimitive. */
function nodeSetInterval(handler: () => void, ms?: number) {
  const id = globalThis.setInterval(handler, ms);
  const timeout = { unref: () => timeout, ref: () => timeout, hasRef: () => true, [Symbol.toPrimitive]: () => id };
  return timeout;
}

export { Buffer, browserProcess as process, nodeSetInterval as setInterval };
