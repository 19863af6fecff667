// node:fs/promises for the browser build: what the ONNX writer and atomic writes use, over the
// in-memory file system of fs.ts.
import { createForWriting, fileBytes, renameSync, rmSync, statSync, writeAt } from "./fs.js";

export interface FileHandle {
  write(bytes: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  close(): Promise<void>;
}

export async function open(path: string, flags = "r"): Promise<FileHandle> {
  if (flags === "r") statSync(path);
  else createForWriting(path, flags.includes("x"));
  return {
    async write(bytes, offset, length, position) {
      writeAt(path, bytes.subarray(offset, offset + length), position);
      return { bytesWritten: length };
    },
    async read(buffer, offset, length, position) {
      const chunk = fileBytes(path).subarray(position, position + length);
      buffer.set(chunk, offset);
      return { bytesRead: chunk.length };
    },
    async close() {},
  };
}

export async function rename(from: string, to: string): Promise<void> {
  renameSync(from, to);
}

export async function rm(path: string, options?: { recursive?: boolean; force?: boolean }): Promise<void> {
  rmSync(path, options);
}
