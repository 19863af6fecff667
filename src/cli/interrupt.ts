// Ctrl-C and SIGTERM while a command works: the command's AbortSignal fires (an export stops its
// workers and removes what it wrote), and the CLI exits 128 + the signal's number (130, 143), as
// a shell expects of a process a signal ended. A second signal ends the process at once.
import { constants } from "node:os";

export const INTERRUPT_SIGNALS = ["SIGINT", "SIGTERM"] as const;
type InterruptSignal = (typeof INTERRUPT_SIGNALS)[number];

/** Where signals come from (the process; tests may pass an EventEmitter). */
export interface SignalSource {
  on(event: InterruptSignal, listener: () => void): unknown;
  off(event: InterruptSignal, listener: () => void): unknown;
}

export interface Interruption {
  signal: AbortSignal;
  /** 128 + the signal's number once one arrived. */
  exitCode(): number | undefined;
  dispose(): void;
}

export function exitCodeOf(signal: InterruptSignal): number {
  return 128 + constants.signals[signal];
}

export function watchInterrupts(source: SignalSource, forceExit: (code: number) => void): Interruption {
  const controller = new AbortController();
  let received: InterruptSignal | undefined;
  const listeners = INTERRUPT_SIGNALS.map((name) => {
    const listener = () => {
      if (received) forceExit(exitCodeOf(name));
      received = name;
      controller.abort(name);
    };
    source.on(name, listener);
    return [name, listener] as const;
  });
  return {
    signal: controller.signal,
    exitCode: () => (received ? exitCodeOf(received) : undefined),
    dispose: () => {
      for (const [name, listener] of listeners) source.off(name, listener);
    },
  };
}
