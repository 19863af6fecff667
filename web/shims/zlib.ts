// node:zlib for the browser build, as far as the demo model's writer (src/fixtures) needs it:
// CRC-32 (the checkpoint reader's own); no compression (the demo writes safetensors).
export { crc32 } from "../../src/checkpoint/inflate.js";

export function deflateRawSync(): never {
  throw new Error("deflate compression is not available in the browser build");
}
