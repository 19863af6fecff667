// Byte order: checkpoints and ONNX tensors are little-endian; on a big-endian host readers and
// writers swap.

/** Whether this host stores numbers little-endian (typed-array views then match file bytes). */
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The little-endian bytes of a typed array (its own buffer on little-endian hosts). */
export function littleEndianBytes(values: ArrayBufferView & { BYTES_PER_ELEMENT: number }): Uint8Array {
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (HOST_IS_LITTLE_ENDIAN) return bytes;
  const swapped = bytes.slice();
  swapBytesInPlace(swapped, values.BYTES_PER_ELEMENT);
  return swapped;
}

export function swapBytesInPlace(bytes: Uint8Array, width: number): void {
  if (width === 1) return;
  for (let i = 0; i + width <= bytes.length; i += width) bytes.subarray(i, i + width).reverse();
}
