// Raw DEFLATE decoding (RFC 1951) and CRC-32 for zip entries, in plain TypeScript so that the
// checkpoint readers run wherever JavaScript does (torch.save stores tensors uncompressed; only
// re-zipped checkpoints deflate, so speed matters less than having no runtime dependency).
// Input comes from untrusted files: every code, length and distance is checked, and the output
// never grows past the size the zip header announces.

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** The CRC-32 (zip's, IEEE 802.3) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Base lengths and extra bits of length codes 257…285, and of distance codes 0…29. */
const LENGTH_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [
  1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385,
  24577,
];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
/** The order in which code length code lengths are sent. */
const CODE_LENGTH_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/** A canonical Huffman code: how many codes of each length, and the symbols in code order. */
interface Huffman {
  counts: Uint16Array;
  symbols: Uint16Array;
}

function huffman(lengths: ArrayLike<number>): Huffman {
  const counts = new Uint16Array(16);
  for (let i = 0; i < lengths.length; i++) counts[lengths[i]!]!++;
  counts[0] = 0;
  let left = 1;
  for (let len = 1; len < 16; len++) {
    left = left * 2 - counts[len]!;
    if (left < 0) throw new Error("a Huffman table is over-subscribed");
  }
  const offsets = new Uint16Array(16);
  for (let len = 1; len < 15; len++) offsets[len + 1] = offsets[len]! + counts[len]!;
  const symbols = new Uint16Array(lengths.length);
  for (let i = 0; i < lengths.length; i++) if (lengths[i] !== 0) symbols[offsets[lengths[i]!]!++] = i;
  return { counts, symbols };
}

const FIXED_LITERALS = huffman(Array.from({ length: 288 }, (_, i) => (i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8)));
const FIXED_DISTANCES = huffman(new Array<number>(30).fill(5));

class BitReader {
  private at = 0;
  private bits = 0;
  private count = 0;

  constructor(private readonly input: Uint8Array) {}

  read(n: number): number {
    while (this.count < n) {
      if (this.at >= this.input.length) throw new Error("the compressed data ends early");
      this.bits |= this.input[this.at++]! << this.count;
      this.count += 8;
    }
    const value = this.bits & ((1 << n) - 1);
    this.bits >>>= n;
    this.count -= n;
    return value;
  }

  decode(code: Huffman): number {
    let value = 0;
    let first = 0;
    let index = 0;
    for (let len = 1; len < 16; len++) {
      value |= this.read(1);
      const count = code.counts[len]!;
      if (value - first < count) return code.symbols[index + value - first]!;
      index += count;
      first = (first + count) << 1;
      value <<= 1;
    }
    throw new Error("an invalid Huffman code");
  }

  /** Drops the bits left of the current byte (stored blocks start on a byte). */
  alignToByte(): void {
    this.bits = 0;
    this.count = 0;
  }

  takeBytes(n: number): Uint8Array {
    if (this.at + n > this.input.length) throw new Error("a stored block ends early");
    const bytes = this.input.subarray(this.at, this.at + n);
    this.at += n;
    return bytes;
  }
}

/**
 * The `size` bytes that the raw DEFLATE stream `input` holds. Throws (an Error saying what is
 * wrong) on a damaged stream, or one that holds more or fewer bytes than `size`.
 */
export function inflateRaw(input: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let length = 0;
  const reader = new BitReader(input);
  const room = (n: number) => {
    if (length + n > size) throw new Error(`it holds more than the ${size} bytes announced`);
  };
  for (let last = 0; !last;) {
    last = reader.read(1);
    const type = reader.read(2);
    if (type === 0) {
      reader.alignToByte();
      const header = reader.takeBytes(4);
      const n = header[0]! | (header[1]! << 8);
      if ((n ^ 0xffff) !== (header[2]! | (header[3]! << 8))) throw new Error("a stored block's length check fails");
      room(n);
      out.set(reader.takeBytes(n), length);
      length += n;
      continue;
    }
    if (type === 3) throw new Error("a block of reserved type 3");
    const [literals, distances] = type === 1 ? [FIXED_LITERALS, FIXED_DISTANCES] : dynamicTables(reader);
    for (;;) {
      const symbol = reader.decode(literals);
      if (symbol < 256) {
        room(1);
        out[length++] = symbol;
        continue;
      }
      if (symbol === 256) break;
      const lengthCode = symbol - 257;
      if (lengthCode >= 29) throw new Error("an invalid length code");
      const copy = LENGTH_BASE[lengthCode]! + reader.read(LENGTH_EXTRA[lengthCode]!);
      const distanceCode = reader.decode(distances);
      if (distanceCode >= 30) throw new Error("an invalid distance code");
      const distance = DIST_BASE[distanceCode]! + reader.read(DIST_EXTRA[distanceCode]!);
      if (distance > length) throw new Error("a distance reaches before the start");
      room(copy);
      for (let i = 0; i < copy; i++, length++) out[length] = out[length - distance]!;
    }
  }
  if (length !== size) throw new Error(`it holds ${length} bytes, not the ${size} announced`);
  return out;
}

function dynamicTables(reader: BitReader): [Huffman, Huffman] {
  const literalCount = reader.read(5) + 257;
  const distanceCount = reader.read(5) + 1;
  const codeLengthCount = reader.read(4) + 4;
  if (literalCount > 286 || distanceCount > 30) throw new Error("too many codes in a dynamic block");
  const codeLengths = new Uint8Array(19);
  for (let i = 0; i < codeLengthCount; i++) codeLengths[CODE_LENGTH_ORDER[i]!] = reader.read(3);
  const codeLengthCode = huffman(codeLengths);
  const lengths = new Uint8Array(literalCount + distanceCount);
  for (let i = 0; i < lengths.length;) {
    const symbol = reader.decode(codeLengthCode);
    if (symbol < 16) {
      lengths[i++] = symbol;
      continue;
    }
    let repeat: number;
    let value = 0;
    if (symbol === 16) {
      if (i === 0) throw new Error("a repeated code length with nothing before it");
      value = lengths[i - 1]!;
      repeat = 3 + reader.read(2);
    } else repeat = symbol === 17 ? 3 + reader.read(3) : 11 + reader.read(7);
    if (i + repeat > lengths.length) throw new Error("code lengths run past their count");
    lengths.fill(value, i, i + repeat);
    i += repeat;
  }
  if (lengths[256] === 0) throw new Error("a dynamic block without an end code");
  return [huffman(lengths.subarray(0, literalCount)), huffman(lengths.subarray(literalCount))];
}
