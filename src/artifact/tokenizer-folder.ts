// Tokenizer files of a model folder on disk (Node): loading them, and copying them into an export.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { copyFileAtomic } from "../common/atomic.js";
import { folderFiles } from "../common/node-files.js";
import { type LoadedTokenizer, TOKENIZER_FILES, openTokenizer } from "./tokenizer-files.js";

/**
 * Loads tokenizer.json (+ tokenizer_config.json) from the model folder `dir`; `has` says which
 * files count as present (a runtime passes its export manifest's list).
 */
export function loadTokenizer(dir: string, has?: (file: string) => boolean): LoadedTokenizer {
  return openTokenizer(folderFiles(dir), has);
}

/** Copies the tokenizer files present in `fromDir` into `toDir`; returns their names. */
export function copyTokenizerFiles(fromDir: string, toDir: string): string[] {
  const present = TOKENIZER_FILES.filter((file) => existsSync(join(fromDir, file)));
  for (const file of present) copyFileAtomic(join(fromDir, file), join(toDir, file));
  return present;
}
