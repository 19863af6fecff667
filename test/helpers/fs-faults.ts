// Test-only preload (node --import ./test/helpers/fs-faults.ts): file-system calls under one folder
// fail as a full, read-only or forbidden disk makes them fail, so that the CLI meets ENOSPC, EROFS
// and EACCES as a user does (as root, as tests may run, permissions deny nothing; a real full disk
// needs a mount). Set JAZZMINE_TEST_FS_FAULT to {"code", "under", "afterBytes"?}: with ENOSPC,
// writes under `under` fail once `afterBytes` bytes were written there; with other codes, every
// creation or write under it fails.
import fs from "node:fs";
import fsp from "node:fs/promises";
import { syncBuiltinESMExports } from "node:module";
import { resolve, sep } from "node:path";

interface Fault {
  code: "ENOSPC" | "EROFS" | "EACCES";
  under: string;
  afterBytes?: number;
}

const MESSAGES = { ENOSPC: "no space left on device", EROFS: "read-only file system", EACCES: "permission denied" };

const spec = process.env.JAZZMINE_TEST_FS_FAULT;
if (spec) await install(JSON.parse(spec) as Fault);

async function install(fault: Fault): Promise<void> {
  const root = resolve(fault.under);
  const inside = (path: unknown) => {
    const p = resolve(String(path));
    return p === root || p.startsWith(root + sep);
  };
  let written = 0;
  /** Whether a write of `bytes` under the folder fails now. */
  const fails = (bytes: number) => (fault.code === "ENOSPC" ? (written += bytes) > (fault.afterBytes ?? 0) : true);
  const error = (syscall: string, path?: unknown) =>
    Object.assign(new Error(`${fault.code}: ${MESSAGES[fault.code]}, ${syscall}${path === undefined ? "" : ` '${String(path)}'`}`), {
      code: fault.code,
      syscall,
    });
  const writing = (flags: unknown) => typeof flags === "string" && /[wax+]/.test(flags);

  const original = {
    mkdirSync: fs.mkdirSync,
    writeFileSync: fs.writeFileSync,
    copyFileSync: fs.copyFileSync,
    openSync: fs.openSync,
    open: fsp.open,
  };
  const handlePaths = new WeakMap<object, string>();
  fs.mkdirSync = ((path: fs.PathLike, options?: fs.MakeDirectoryOptions) => {
    if (fault.code !== "ENOSPC" && inside(path)) throw error("mkdir", path);
    return original.mkdirSync(path, options);
  }) as typeof fs.mkdirSync;
  fs.writeFileSync = ((path: fs.PathOrFileDescriptor, data: string | NodeJS.ArrayBufferView, options?: fs.WriteFileOptions) => {
    if (inside(path) && fails(typeof data === "string" ? Buffer.byteLength(data) : data.byteLength)) throw error("write", path);
    return original.writeFileSync(path, data, options);
  }) as typeof fs.writeFileSync;
  fs.copyFileSync = ((from: fs.PathLike, to: fs.PathLike, mode?: number) => {
    if (inside(to) && fails(fs.statSync(from).size)) throw error("copyfile", to);
    return original.copyFileSync(from, to, mode);
  }) as typeof fs.copyFileSync;
  fs.openSync = ((path: fs.PathLike, flags: fs.OpenMode = "r", mode?: fs.Mode) => {
    if (fault.code !== "ENOSPC" && inside(path) && writing(flags)) throw error("open", path);
    return original.openSync(path, flags, mode);
  }) as typeof fs.openSync;
  fsp.open = (async (path: fs.PathLike, flags?: string | number, mode?: fs.Mode) => {
    if (fault.code !== "ENOSPC" && inside(path) && writing(flags)) throw error("open", path);
    const handle = await original.open(path, flags, mode);
    handlePaths.set(handle, String(path));
    return handle;
  }) as typeof fsp.open;
  const probe = await original.open(process.execPath, "r");
  const handleType = Object.getPrototypeOf(probe) as { write: (...args: unknown[]) => Promise<unknown> };
  await probe.close();
  const write = handleType.write;
  handleType.write = function (this: object, buffer: unknown, ...rest: unknown[]) {
    const path = handlePaths.get(this);
    const length =
      typeof rest[1] === "number" ? rest[1] : typeof buffer === "string" ? Buffer.byteLength(buffer) : (buffer as Uint8Array).byteLength;
    if (path !== undefined && inside(path) && fails(length)) return Promise.reject(error("write"));
    return write.call(this, buffer, ...rest);
  };
  syncBuiltinESMExports();
}
