// Progress on stderr, drawn from the library's progress events (common/progress.ts): a live bar
// (downloads) or spinner (long steps, counts of texts) on a terminal, plain start/finish lines
// elsewhere, nothing but warnings when quiet. stdout is never touched.
import type { Logger } from "../common/log.js";
import type { ProgressCallback, ProgressEvent, ProgressTask } from "../common/progress.js";
import { redactCredentials } from "../common/redact.js";
import { escapeControlCharacters } from "../common/messages.js";

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
  kind: "bytes" | "step" | "count";
  /** Units done before it started (a resumed run): not counted in its rate. */
  base?: number;
}

/** Logger + progress for a terminal or a log file; the CLI's single voice on stderr. */
export class Reporter implements Logger {
  readonly mode: ReporterMode;
  private readonly live: LiveTask[] = [];
  /** Tasks opened by progress events, by stage and label, with the units already drawn. */
  private readonly fromEvents = new Map<string, { task: ProgressTask; done: number }>();
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
      this.line(
        `downloading ${label}${total !== undefined ? ` (${formatBytes(total)})` : ""}${already > 0 ? `, resuming at ${formatBytes(already)}` : ""}`,
      );
    }
    return this.track({ label, kind: "bytes", done: already, started: Date.now(), ...(total !== undefined ? { total } : {}) }, (task) => {
      const seconds = (Date.now() - task.started) / 1000;
      return `downloaded ${label} (${formatBytes(task.done)} in ${seconds.toFixed(1)} s)`;
    });
  }

  step(label: string): ProgressTask {
    if (this.mode === "lines") this.line(`${label}…`);
    return this.track(
      { label, kind: "step", done: 0, started: Date.now() },
      (task) => `${label} (${((Date.now() - task.started) / 1000).toFixed(1)} s)`,
    );
  }

  /** A task counted in items (texts), `total` of them, `already` done before it started. */
  count(label: string, total: number | undefined, unit: string, already = 0): ProgressTask {
    if (this.mode === "lines") this.line(`${label}${total !== undefined ? ` ${total} ${unit}` : ""}…`);
    const task: LiveTask = {
      label,
      kind: "count",
      done: already,
      base: already,
      started: Date.now(),
      ...(total !== undefined ? { total } : {}),
    };
    return this.track(task, (task) => {
      return `${label} ${task.done} ${unit} (${((Date.now() - task.started) / 1000).toFixed(1)} s)`;
    });
  }

  /** The library's progress events drawn as bars, spinners or lines (pass it as `onProgress`). */
  readonly onProgress: ProgressCallback = (event: ProgressEvent) => {
    const key = `${event.stage}\0${event.label}`;
    if (event.status === "start") {
      const task =
        event.unit === "bytes"
          ? this.bytes(event.label, event.total, event.done)
          : event.unit === "texts"
            ? this.count(event.label, event.total, "texts", event.done)
            : this.step(event.label);
      this.fromEvents.set(key, { task, done: event.done });
      return;
    }
    const open = this.fromEvents.get(key);
    if (!open) return;
    open.task.advance(event.done - open.done);
    open.done = event.done;
    if (event.status === "progress") return;
    this.fromEvents.delete(key);
    if (event.status === "done") open.task.done();
    else open.task.fail();
  };

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
    this.stream.write(`${escapeControlCharacters(redactCredentials(message))}\n`);
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
    this.stream.write(escapeControlCharacters(renderTask(task, SPINNER[this.frame % SPINNER.length]!, width)));
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
  if (task.kind === "count") {
    // Rate and time left from this run's own work (a resumed run's earlier rows took no time here).
    const rate = seconds > 0.5 ? (task.done - (task.base ?? 0)) / seconds : 0;
    const left = task.total !== undefined && rate > 0 ? ` · ETA ${formatDuration(Math.max(0, task.total - task.done) / rate)}` : "";
    return truncate(
      `${spinner} ${task.label} ${task.done}${task.total !== undefined ? `/${task.total}` : ""} · ${seconds.toFixed(0)} s` +
        `${rate > 0 ? ` · ${rate.toFixed(0)} texts/s` : ""}${left}`,
      width,
    );
  }
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

/** 42 s, 3 min 05 s, 2 h 07 min. */
function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
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

/** Progress events for a plain Logger (library use without onProgress): the reporter's own when it is one, else lines. */
export function progressFor(logger: Logger): ProgressCallback {
  if (logger instanceof Reporter) return logger.onProgress;
  return new Reporter({ write: (text) => logger.info(text.replace(/\n$/, "")) }, { mode: "lines" }).onProgress;
}
