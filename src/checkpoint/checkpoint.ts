// Opening a model folder's weights and seeing through task-head prefixes ("bert." in
// BertForMaskedLM checkpoints), so templates always name tensors of the bare encoder.
import type { ModelFiles } from "../common/files.js";
import type { TensorBytes } from "../graph/ir.js";
import { PYTORCH_BIN_FILE, PYTORCH_BIN_INDEX_FILE, PytorchBinCheckpoint } from "./pytorch-bin.js";
import { SAFETENSORS_INDEX_FILE, SAFETENSORS_SINGLE_FILE, SafetensorsCheckpoint } from "./safetensors.js";
import { type WeightInfo, type WeightStore, WeightError } from "./weights.js";

/**
 * A model's weight files in order of preference: the first one a folder (or a hub repository)
 * has is the one read (safetensors before pytorch_model.bin, one file before an index).
 */
export const WEIGHT_FILES = [SAFETENSORS_SINGLE_FILE, SAFETENSORS_INDEX_FILE, PYTORCH_BIN_FILE, PYTORCH_BIN_INDEX_FILE] as const;

/**
 * Opens the weights of a Hugging Face model folder: safetensors when it has them, else
 * pytorch_model.bin (read by a restricted unpickler that executes nothing).
 */
export function openCheckpoint(files: ModelFiles): WeightStore {
  const preferred = WEIGHT_FILES.find((file) => files.has(file));
  if (preferred === SAFETENSORS_SINGLE_FILE || preferred === SAFETENSORS_INDEX_FILE) return SafetensorsCheckpoint.open(files);
  if (preferred !== undefined) return PytorchBinCheckpoint.open(files);
  throw new WeightError(
    `${files.label} holds no model weights: expected ${WEIGHT_FILES.slice(0, -1).join(", ")} or ${WEIGHT_FILES.at(-1)} ` +
      `(download the model's weight files into this folder)`,
  );
}

/** A view of `store` in which `name` means `prefix + name`. */
export class PrefixedStore implements WeightStore {
  constructor(
    private readonly inner: WeightStore,
    readonly prefix: string,
  ) {}

  get source(): string {
    return this.inner.source;
  }

  names(): string[] {
    return this.inner
      .names()
      .filter((n) => n.startsWith(this.prefix))
      .map((n) => n.slice(this.prefix.length));
  }

  has(name: string): boolean {
    return this.inner.has(this.prefix + name);
  }

  info(name: string): WeightInfo {
    return { ...this.inner.info(this.prefix + name), name };
  }

  float32(name: string): Float32Array {
    return this.inner.float32(this.prefix + name);
  }

  finiteFloat32(name: string): Float32Array {
    return this.inner.finiteFloat32(this.prefix + name);
  }

  float32Bytes(name: string): TensorBytes {
    return this.inner.float32Bytes(this.prefix + name);
  }

  close(): void {
    this.inner.close();
  }
}

/**
 * Finds which of `prefixes` ("" first) puts `anchor` in the checkpoint and returns the store
 * seen through it. The error lists what the checkpoint does contain, to tell a wrong
 * architecture from a damaged file.
 */
export function encoderView(store: WeightStore, anchor: string, prefixes: readonly string[]): WeightStore {
  for (const prefix of ["", ...prefixes]) {
    if (store.has(prefix + anchor)) return prefix === "" ? store : new PrefixedStore(store, prefix);
  }
  const sample = store.names().slice(0, 5).join(", ");
  throw new WeightError(
    `${store.source} has no tensor "${anchor}" (also tried prefixes ${prefixes.map((p) => `"${p}"`).join(", ")}); ` +
      `its tensors start with: ${sample || "(none)"}. Check that config.json's model_type matches these weights`,
  );
}
