// Progress on stderr: a live bar (downloads) or spinner (long steps) on a terminal, plain
// start/finish lines elsewhere, nothing but warnings when quiet. stdout is never touched.
import type { Logger } from "../common/log.js";
import { redactCredentials } from "../common/redact.js";

export interface ProgressTask {
  /** `n` more bytes done (byte tasks). */
  advance(n: number): void;
  done(): void;
  /** Ends the task without a success line (the error is reported elsewhere). */
  fail(): void;
}

export interface ProgressSink {
  /** A task measured in bytes, `already` of them done before it started (a resumed download). */
  bytes(label: string, total: number | undefined, already?: number): ProgressTask;
  /** A long step without a measurable size. */
  step(label: string): ProgressTask;
}

export type ReporterMode = "tty" | "lines" | "quiet";

export interface TextStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

const SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏";
const REDRAW_MS = 100;

interface LiveTask {
  label: string;
  total?: number;
  done: number;
  started: number;
  kind: "bytes" | "step";
}

/** Logger + progress for a terminal or a log file; the CLI's single voice on stderr. */
export class Reporter implements Logger, ProgressSink {
  readonly mode: ReporterMode;
  private readonly live: LiveTask[] = [];
  private timer: NodeJS.Timeout | undefined;
  private frame = 0;
  private drawn = false;

  constructor(
    private readonly stream: TextStream = process.stderr,
    options: { quiet?: boolean; mode?: ReporterMode } = {},
  ) {
    this.mode = options.mode ?? (options.quiet ? "quiet" : stream.isTTY ? "tty" : "lines");
  }

  info(message: string): void {
    if (this.mode !== "quiet") this.line(message);
  }

  warn(message: string): void {
    this.line(`warning: ${message}`);
  }

  bytes(label: string, total: number | undefined, already = 0): ProgressTask {
    if (this.mode === "lines") {
      this.line(`downloading ${label}${total !== undefined ? ` (${formatBytes(total)})` : ""}${already > 0 ? `, resuming at ${formatBytes(already)}` : ""}`);
    }
    return this.track({ label, kind: "bytes", done: already, started: Date.now(), ...(total !== undefined ? { total } : {}) }, (task) => {
      const seconds = (Date.now() - task.started) / 1000;
      return `downloaded ${label} (${formatBytes(task.done)} in ${seconds.toFixed(1)} s)`;
    });
  }

  step(label: string): ProgressTask {
    if (this.mode === "lines") this.line(`${label}…`);
    return this.track({ label, kind: "step", done: 0, started: Date.now() }, (task) => `${label} (${((Date.now() - task.started) / 1000).toFixed(1)} s)`);
  }

  private track(task: LiveTask, summary: (task: LiveTask) => string): ProgressTask {
    if (this.mode !== "tty") return { advance: () => {}, done: () => {}, fail: () => {} };
    this.live.push(task);
    this.startTimer();
    let open = true;
    const finish = (line: string | undefined) => {
      if (!open) return;
      open = false;
      this.live.splice(this.live.indexOf(task), 1);
      if (line) this.line(line);
      else this.redraw();
      if (this.live.length === 0) this.stopTimer();
    };
    return {
      advance: (n) => {
        task.done += n;
      },
      done: () => finish(`✓ ${summary(task)}`),
      fail: () => finish(undefined),
    };
  }

  /** A permanent line, printed above the live line. */
  private line(message: string): void {
    this.clearLive();
    this.stream.write(`${redactCredentials(message)}\n`);
    this.redraw();
  }

  private clearLive(): void {
    if (this.drawn) this.stream.write("\r\x1b[2K");
    this.drawn = false;
  }

  private redraw(): void {
    const task = this.live.at(-1);
    this.clearLive();
    if (!task) return;
    const width = Math.max(40, (this.stream.columns || 80) - 1);
    this.stream.write(renderTask(task, SPINNER[this.frame % SPINNER.length]!, width));
    this.drawn = true;
  }

  private startTimer(): void {
    this.timer ??= setInterval(() => {
      this.frame++;
      this.redraw();
    }, REDRAW_MS);
    this.timer.unref();
    this.redraw();
  }

  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.clearLive();
  }
}

function renderTask(task: LiveTask, spinner: string, width: number): string {
  const seconds = (Date.now() - task.started) / 1000;
  if (task.kind === "step") return truncate(`${spinner} ${task.label} · ${seconds.toFixed(0)} s`, width);
  const rate = seconds > 0.5 ? ` ${formatBytes(task.done / seconds)}/s` : "";
  if (task.total === undefined || task.total === 0) return truncate(`${spinner} ${task.label} ${formatBytes(task.done)}${rate}`, width);
  const fraction = Math.min(1, task.done / task.total);
  // Fixed width, so that the bar does not jump when the rate appears.
  const numbers = ` ${(fraction * 100).toFixed(0).padStart(3)}% ${formatBytes(task.done)}/${formatBytes(task.total)}${rate}`.padEnd(36);
  const label = truncate(task.label, Math.max(10, Math.floor(width / 3)));
  const barWidth = Math.max(10, width - label.length - numbers.length - 4);
  const filled = Math.round(fraction * barWidth);
  return truncate(`${label} |${"█".repeat(filled)}${"░".repeat(barWidth - filled)}|${numbers}`, width);
}

function truncate(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

export function formatBytes(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}

/** Progress for a plain Logger (library use): the reporter itself when it is one, else lines. */
export function progressFor(logger: Logger): ProgressSink {
  if (logger instanceof Reporter) return logger;
  return new Reporter({ write: (text) => logger.info(text.replace(/\n$/, "")) }, { mode: "lines" });
}

/** Runs a long step: a spinner with elapsed time on a terminal, a line otherwise. */
export async function withStep<T>(logger: Logger, label: string, work: () => Promise<T>): Promise<T> {
  const task = progressFor(logger).step(label);
  try {
    const result = await work();
    task.done();
    return result;
  } catch (error) {
    task.fail();
    throw error;
  }
}
