// Calibration and held-out texts: the built-in corpora shipped in data/calibration/, or a user
// file (.txt: one text per line; .jsonl: one JSON string or {"text": "..."} per line).
import { existsSync, readFileSync, statSync } from "node:fs";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";

/** Bad calibration input or options: the user's to fix, so it is reported at once and never retried. */
export class QuantizationInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "QuantizationInputError";
  }
}

const DATA_DIR = new URL("../../data/calibration/", import.meta.url);
/** Texts the activations are calibrated on. */
export const BUILTIN_CALIBRATION_FILE = fileURLToPath(new URL("calibration.jsonl", DATA_DIR));
/** Texts the fidelity report is measured on: never calibrated on. */
export const BUILTIN_HELD_OUT_FILE = fileURLToPath(new URL("held-out.jsonl", DATA_DIR));

export interface TextSource {
  texts: string[];
  /** "built-in", a file path, or "texts" for texts passed in the API. */
  origin: string;
}

export function builtinCalibrationTexts(): TextSource {
  return { texts: readTextFile(BUILTIN_CALIBRATION_FILE), origin: "built-in" };
}

/** The built-in held-out texts, minus any that the calibration set also holds. */
export function heldOutTexts(calibration: readonly string[]): TextSource {
  const calibrated = new Set(calibration);
  return { texts: readTextFile(BUILTIN_HELD_OUT_FILE).filter((t) => !calibrated.has(t)), origin: "built-in" };
}

/** Texts passed through the API, checked like a file's. */
export function textsFromList(texts: readonly unknown[]): TextSource {
  const checked = texts.map((t, i) => {
    if (typeof t !== "string") throw new QuantizationInputError(`calibration text ${i + 1} is a ${typeof t}, not a string`);
    return t;
  });
  return { texts: requireSome(checked.filter((t) => t.trim() !== ""), "the calibrationTexts list"), origin: "texts" };
}

/** Reads a calibration file, with one clear error for each way it can be unusable. */
export function readTextFile(path: string): string[] {
  if (!existsSync(path)) throw new QuantizationInputError(`calibration file ${path} does not exist`);
  if (!statSync(path).isFile()) throw new QuantizationInputError(`calibration file ${path} is not a file`);
  const format = extname(path).toLowerCase();
  if (format !== ".txt" && format !== ".jsonl") {
    throw new QuantizationInputError(`calibration file ${path}: use .txt (one text per line) or .jsonl (one JSON string or {"text": ...} per line)`);
  }
  const bytes = readFileSync(path);
  if (bytes.includes(0)) throw new QuantizationInputError(`calibration file ${path} is binary (it holds NUL bytes), not text`);
  let content: string;
  try {
    content = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new QuantizationInputError(`calibration file ${path} is not UTF-8 text`);
  }
  const lines = content.replace(/^\uFEFF/, "").split(/\r?\n/);
  const texts = format === ".txt" ? lines : lines.map((line, i) => (line.trim() === "" ? "" : jsonLineText(path, line, i + 1)));
  return requireSome(
    texts.filter((t) => t.trim() !== ""),
    `calibration file ${path}`,
  );
}

function jsonLineText(path: string, line: string, lineNumber: number): string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw new QuantizationInputError(`calibration file ${path} line ${lineNumber} is not valid JSON (${(error as Error).message})`);
  }
  if (typeof value === "string") return value;
  if (value && typeof value === "object" && typeof (value as { text?: unknown }).text === "string") return (value as { text: string }).text;
  throw new QuantizationInputError(`calibration file ${path} line ${lineNumber}: expected a JSON string or an object with a "text" string`);
}

function requireSome(texts: string[], what: string): string[] {
  if (texts.length === 0) throw new QuantizationInputError(`${what} holds no texts: give at least one non-empty text (a few hundred calibrate best)`);
  return texts;
}
