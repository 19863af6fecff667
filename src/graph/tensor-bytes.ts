// Reading a tensor's bytes from whichever source holds them. Kept apart from the ONNX writer and
// reader so that code reading weights (reference forwards, the reference worker) does not load
// the protobuf machinery.
import type { TensorBytes } from "./ir.js";

/** The raw little-endian bytes of a tensor. A `lazy` source is computed again on every call. */
export function readTensorBytes(data: TensorBytes): Uint8Array {
  switch (data.kind) {
    case "bytes":
      return data.bytes;
    case "file": {
      const bytes = new Uint8Array(data.length);
      data.source.readInto(bytes, data.offset);
      data.check?.(bytes, data.offset);
      return bytes;
    }
    case "lazy":
      return data.read();
  }
}
