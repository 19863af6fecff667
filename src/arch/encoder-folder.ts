// A model folder on disk as an encoder (Node): openEncoder over the folder's files.
import { folderFiles } from "../common/node-files.js";
import { type LoadedEncoder, openEncoder } from "./encoder.js";

/** Reads config.json and opens the weights (headers only) of the Hugging Face model folder `dir`. */
export function loadEncoder(dir: string): LoadedEncoder {
  return openEncoder(folderFiles(dir));
}
