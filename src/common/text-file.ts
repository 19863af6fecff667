// Texts from a file: .txt holds one text per line, .jsonl one JSON string or {"text": "..."} per
// line. Calibration (`--calibration`) and bulk embedding (`embed --input`) read the same formats
// with the same one-line errors, each under its own label ("calibration file", "input file").
import { existsSync, readFileSync, statSync } from "node:fs";
import { extname } from "node:path";

export class TextFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TextFileError";
  }
}

/** Lines of `text`; a final newline ends the last line rather than starting an empty one. */
export function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split(/\r?\n/);
  if (lines.length > 1 && lines.at(-1) === "") lines.pop();
  return lines;
}

/**
 * The texts of `path`, in order: every line of a .txt file (empty ones included: they are texts
 * too), every non-blank line of a .jsonl file.
 */
export function readTextLines(path: string, label: string): string[] {
  if (!existsSync(path)) throw new TextFileError(`${label} ${path} does not exist`);
  if (!statSync(path).isFile()) throw new TextFileError(`${label} ${path} is not a file`);
  const format = extname(path).toLowerCase();
  if (format !== ".txt" && format !== ".jsonl") {
    throw new TextFileError(`${label} ${path}: use .txt (one text per line) or .jsonl (one JSON string or {"text": ...} per line)`);
  }
  const bytes = readFileSync(path);
  if (bytes.includes(0)) throw new TextFileError(`${label} ${path} is binary (it holds NUL bytes), not text`);
  let content: string;
  try {
    content = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new TextFileError(`${label} ${path} is not UTF-8 text`);
  }
  const lines = splitLines(content.replace(/^\uFEFF/, ""));
  if (format === ".txt") return lines;
  return lines.flatMap((line, i) => (line.trim() === "" ? [] : [jsonLineText(`${label} ${path}`, line, i + 1)]));
}

function jsonLineText(file: string, line: string, lineNumber: number): string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw new TextFileError(`${file} line ${lineNumber} is not valid JSON (${(error as Error).message})`);
  }
  if (typeof value === "string") return value;
  if (value && typeof value === "object" && typeof (value as { text?: unknown }).text === "string") return (value as { text: string }).text;
  throw new TextFileError(`${file} line ${lineNumber}: expected a JSON string or an object with a "text" string`);
}
