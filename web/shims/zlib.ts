// node:zlib for the browser build: CRC-32 (zip entries are checked with it); deflated zip entries
// cannot be read (PyTorch writes its .bin archives stored, not deflated).
const TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

export function crc32(data: Uint8Array | string, value = 0): number {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  let crc = ~value >>> 0;
  for (const byte of bytes) crc = TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

export function inflateRawSync(): never {
  throw new Error("deflate-compressed zip entries cannot be read in the browser build; convert the checkpoint to model.safetensors");
}

export function deflateRawSync(): never {
  throw new Error("deflate compression is not available in the browser build");
}
