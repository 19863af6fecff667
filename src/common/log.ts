// Progress and diagnostics go to stderr (stdout carries only results, for scripts), terminal
// control characters from model files escaped.
import { escapeControlCharacters } from "./messages.js";

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
}

export const stderrLogger: Logger = {
  info: (message) => process.stderr.write(`${escapeControlCharacters(message)}\n`),
  warn: (message) => process.stderr.write(`warning: ${escapeControlCharacters(message)}\n`),
};

export const silentLogger: Logger = { info: () => {}, warn: () => {} };
