// Calibration and held-out texts: the built-in corpora (builtin-corpora.ts), or a user file
// (.txt: one text per line; .jsonl: one JSON string or {"text": "..."} per line).
import { TextFileError, readTextLines } from "../common/text-file.js";
import { CALIBRATION_TEXTS, HELD_OUT_TEXTS } from "./builtin-corpora.js";

/**
 * Bad calibration input or options, or a model that computes nothing calibratable on the texts
 * (NaN everywhere): the user's to fix, no graph variant would help, so it is reported at once and
 * never retried.
 */
export class QuantizationInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "QuantizationInputError";
  }
}

/** Quantization could not produce a model that meets the settings. */
export class QuantizationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "QuantizationError";
  }
}

export interface TextSource {
  texts: string[];
  /** "built-in", a file path, or "texts" for texts passed in the API. */
  origin: string;
}

export function builtinCalibrationTexts(): TextSource {
  return { texts: [...CALIBRATION_TEXTS], origin: "built-in" };
}

/** The built-in held-out texts, minus any that the calibration set also holds. */
export function heldOutTexts(calibration: readonly string[]): TextSource {
  const calibrated = new Set(calibration);
  return { texts: HELD_OUT_TEXTS.filter((t) => !calibrated.has(t)), origin: "built-in" };
}

/** Texts passed through the API, checked like a file's. */
export function textsFromList(texts: readonly unknown[]): TextSource {
  const checked = texts.map((t, i) => {
    if (typeof t !== "string") throw new QuantizationInputError(`calibration text ${i + 1} is a ${typeof t}, not a string`);
    return t;
  });
  return {
    texts: requireSome(
      checked.filter((t) => t.trim() !== ""),
      "the calibrationTexts list",
    ),
    origin: "texts",
  };
}

/** Reads a calibration file, with one clear error for each way it can be unusable. */
export function readTextFile(path: string): string[] {
  let texts: string[];
  try {
    texts = readTextLines(path, "calibration file");
  } catch (error) {
    throw error instanceof TextFileError ? new QuantizationInputError(error.message) : error;
  }
  return requireSome(
    texts.filter((t) => t.trim() !== ""),
    `calibration file ${path}`,
  );
}

function requireSome(texts: string[], what: string): string[] {
  if (texts.length === 0)
    throw new QuantizationInputError(`${what} holds no texts: give at least one non-empty text (a few hundred calibrate best)`);
  return texts;
}
