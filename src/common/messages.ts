// Small helpers for validation and one-line messages: every reader of untrusted files (checkpoints,
// configs, pickles) names values the same way, clipped and on one line.

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function isNonNegativeSafeInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

export function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return `a ${typeof value}`;
}

const MAX_QUOTED_CHARS = 120;

export function clip(text: string): string {
  return text.length > MAX_QUOTED_CHARS ? `${text.slice(0, MAX_QUOTED_CHARS)}…` : text;
}

/** Messages quoting file content stay on one line (control characters too become spaces). */
export function oneLine(text: string): string {
  return text.replace(/[\s\u0000-\u001f]+/g, " ").trim();
}

/** A name as a quoted JSON string (escapes keep hostile names on one line), clipped. */
export function quote(name: string): string {
  return clip(JSON.stringify(name));
}

/** A short JSON rendering of any parsed value, for messages. */
export function describe(value: unknown): string {
  try {
    return clip(JSON.stringify(value) ?? String(value));
  } catch {
    return kindOf(value); // e.g. nesting too deep to stringify
  }
}

export function formatShape(shape: readonly unknown[]): string {
  return clip(`[${shape.join(", ")}]`);
}

export function fsReason(err: unknown): string {
  // Node's messages read "ENOENT: no such file or directory, open '/path'": keep what precedes the path.
  const message = errorMessage(err);
  return clip(oneLine(message.split(", ")[0]!));
}

/** The message of anything thrown (an Error, or anything with a string message), else its text. */
export function errorMessage(err: unknown): string {
  const message = (err as { message?: unknown } | null | undefined)?.message;
  return typeof message === "string" ? message : String(err);
}

/**
 * What a terminal would act on rather than print: C0 controls but tab and newline (ESC, CR,
 * BEL…), DEL, C1 controls (CSI) and the bidirectional overrides that reorder what is shown.
 */
const TERMINAL_CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` with every terminal control character written out as \uXXXX: strings from a model's
 * files (config.json's model_type, a modules.json type, a Hub file name) cannot clear the screen
 * or rewrite a line. Applied where the CLI and the default logger write to stderr.
 */
export function escapeControlCharacters(text: string): string {
  return text.replace(TERMINAL_CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
