// node:child_process for the browser build: there are no processes; the export worker sets a
// session isolation that never forks (web/export-worker.ts).
export type ChildProcess = never;

export function fork(): never {
  throw new Error("child processes do not exist in a browser");
}
