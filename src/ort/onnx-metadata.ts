// metadata_props of an .onnx file without reading its graph: the top-level ModelProto fields
// are walked by their wire headers (a few bytes each), skipping the graph's bytes unread.
import { closeSync, fstatSync, readSync } from "node:fs";
import { openRegularFile } from "../common/regular-file.js";

/** ModelProto.metadata_props (onnx.proto field 14), StringStringEntryProto key = 1, value = 2. */
const METADATA_FIELD = 14;
const LENGTH_DELIMITED = 2;

export function readOnnxMetadata(path: string): Record<string, string> {
  const fd = openRegularFile(path);
  try {
    const size = fstatSync(fd).size;
    const header = Buffer.alloc(24);
    const metadata: Record<string, string> = {};
    let position = 0;
    while (position < size) {
      const available = readSync(fd, header, 0, header.length, position);
      const reader = new WireReader(header.subarray(0, available));
      const tag = reader.varint();
      const [field, wire] = [Math.floor(tag / 8), tag % 8];
      if (wire === LENGTH_DELIMITED) {
        const length = reader.varint();
        const start = position + reader.offset;
        if (field === METADATA_FIELD) {
          const entry = Buffer.alloc(length);
          readSync(fd, entry, 0, length, start);
          const [key, value] = readEntry(entry);
          metadata[key] = value;
        }
        position = start + length;
      } else {
        reader.skip(wire);
        position += reader.offset;
      }
    }
    return metadata;
  } finally {
    closeSync(fd);
  }
}

function readEntry(bytes: Buffer): [string, string] {
  const reader = new WireReader(bytes);
  const strings: Record<number, string> = {};
  while (reader.offset < bytes.length) {
    const tag = reader.varint();
    const wire = tag % 8;
    if (wire !== LENGTH_DELIMITED) {
      reader.skip(wire);
      continue;
    }
    const length = reader.varint();
    strings[Math.floor(tag / 8)] = bytes.toString("utf8", reader.offset, reader.offset + length);
    reader.offset += length;
  }
  return [strings[1] ?? "", strings[2] ?? ""];
}

class WireReader {
  offset = 0;
  constructor(private readonly bytes: Uint8Array) {}

  /** Unsigned varint as a number (exact below 2^53, plenty for tags and lengths). */
  varint(): number {
    let value = 0;
    for (let scale = 1; ; scale *= 128) {
      if (this.offset >= this.bytes.length) throw new Error("truncated protobuf field header; the .onnx file is damaged");
      const byte = this.bytes[this.offset++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
    }
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.offset += 8;
    else if (wire === 5) this.offset += 4;
    else throw new Error(`unexpected protobuf wire type ${wire}; the file is not an ONNX model`);
  }
}
