// The tokenizer and the model must agree on the vocabulary before anything runs: an id past the
// embedding table is an onnxruntime "Gather … out of bounds" deep inside calibration (or
// later, in every user's embed call); a pad_token_id past it breaks every padded batch.
import { join } from "node:path";
import type { EncoderConfig } from "../arch/architecture.js";
import type { HighestToken } from "../artifact/tokenizer-files.js";
import { ExportError } from "../common/errors.js";
import { quote } from "../common/messages.js";

export function checkVocabulary(modelDir: string, config: EncoderConfig, highest: HighestToken | undefined): void {
  const rows = config.vocabSize;
  const configFile = join(modelDir, "config.json");
  const pad = config.padTokenId;
  if (!(Number.isInteger(pad) && pad >= 0 && pad < rows)) {
    throw new ExportError(
      `${configFile}: pad_token_id ${pad} is outside the vocabulary (vocab_size ${rows}: ids 0 to ${rows - 1}); set it to the tokenizer's padding token id`,
    );
  }
  if (highest && highest.id >= rows) {
    throw new ExportError(
      `${highest.file} has token ids up to ${highest.id} (${quote(highest.token)}) but the model's embedding table has ${rows} rows ` +
        `(vocab_size in ${configFile}); the tokenizer does not belong to these weights — use the model's own tokenizer.json`,
    );
  }
}
