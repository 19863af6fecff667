// Reading a tensor's bytes from whichever source holds them. Kept apart from the ONNX writer and
// reader so that code reading weights (reference forwards, the reference worker) does not load
// the protobuf machinery.
import { closeSync, openSync, readSync } from "node:fs";
import type { TensorBytes } from "./ir.js";

/** The raw little-endian bytes of a tensor. A `lazy` source is computed again on every call. */
export function readTensorBytes(data: TensorBytes): Uint8Array {
  switch (data.kind) {
    case "bytes":
      return data.bytes;
    case "file": {
      const bytes = readFileRange(data.path, data.offset, data.length);
      data.check?.(bytes, data.offset);
      return bytes;
    }
    case "lazy":
      return data.read();
  }
}

function readFileRange(path: string, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const fd = openSync(path, "r");
  try {
    for (let done = 0; done < length;) {
      const n = readSync(fd, out, done, length - done, offset + done);
      if (n === 0) throw new Error(`${path} ends before byte ${offset + length}`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}
