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

/** One text of an input file, with the "id" of its JSON line when it has one. */
export interface TextLine {
  text: string;
  id?: unknown;
}

export type TextFormat = ".txt" | ".jsonl";

/** The format of a text file, after checking that it is one (errors under `label`). */
export function textFileFormat(path: string, label: string): TextFormat {
  if (!existsSync(path)) throw new TextFileError(`${label} ${path} does not exist`);
  if (!statSync(path).isFile()) throw new TextFileError(`${label} ${path} is not a file`);
  const format = extname(path).toLowerCase();
  if (format !== ".txt" && format !== ".jsonl") {
    throw new TextFileError(`${label} ${path}: use .txt (one text per line) or .jsonl (one JSON string or {"text": ...} per line)`);
  }
  return format;
}

/**
 * The texts of `path`, in order: every line of a .txt file (empty ones included: they are texts
 * too), every non-blank line of a .jsonl file.
 */
export function readTextLines(path: string, label: string): string[] {
  const format = textFileFormat(path, label);
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
  return lines.flatMap((line, i) => (line.trim() === "" ? [] : [jsonLine(`${label} ${path}`, line, i + 1).text]));
}

/**
 * The texts of a byte stream as readTextLines reads a file, one at a time: memory holds one
 * chunk and one line, whatever the size of the input. `name` is the file for messages.
 */
export async function* streamTextLines(source: AsyncIterable<Uint8Array>, format: TextFormat, name: string): AsyncGenerator<TextLine> {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const decode = (chunk?: Uint8Array) => {
    try {
      return chunk ? decoder.decode(chunk, { stream: true }) : decoder.decode();
    } catch {
      throw new TextFileError(`${name} is not UTF-8 text`);
    }
  };
  let carry = "";
  let lineNumber = 0;
  let first = true;
  const text = (line: string): TextLine | undefined => {
    lineNumber++;
    const bare = line.endsWith("\r") ? line.slice(0, -1) : line;
    if (format === ".txt") return { text: bare };
    return bare.trim() === "" ? undefined : jsonLine(name, bare, lineNumber);
  };
  for await (const chunk of source) {
    if (chunk.includes(0)) throw new TextFileError(`${name} is binary (it holds NUL bytes), not text`);
    let decoded = carry + decode(chunk);
    if (first && decoded.length > 0) {
      decoded = decoded.replace(/^\uFEFF/, "");
      first = false;
    }
    const lines = decoded.split("\n");
    carry = lines.pop()!;
    for (const line of lines) {
      const read = text(line);
      if (read) yield read;
    }
  }
  carry += decode();
  if (carry !== "") {
    const read = text(carry);
    if (read) yield read;
  }
}

function jsonLine(file: string, line: string, lineNumber: number): TextLine {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw new TextFileError(`${file} line ${lineNumber} is not valid JSON (${(error as Error).message})`);
  }
  if (typeof value === "string") return { text: value };
  if (value && typeof value === "object" && typeof (value as { text?: unknown }).text === "string") {
    const { text, id } = value as { text: string; id?: unknown };
    return id === undefined ? { text } : { text, id };
  }
  throw new TextFileError(`${file} line ${lineNumber}: expected a JSON string or an object with a "text" string`);
}
