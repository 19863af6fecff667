// Loading an export checks its files against export_manifest.json: type and size always, the
// sha256 once per version of a file (the user's memo, verified-files.ts). A file changed in any
// way (same size included: other mtime, other inode, mtime set back) is hashed again and refused;
// `verify: "full"` (--verify full) hashes everything, even what the memo vouches for; a memo
// that is not one this user wrote (corrupt, hostile, shared) is ignored, never trusted.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, readFileSync, readdirSync, renameSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { type ExportManifest, MANIFEST_FILE, checkManifestFiles, readManifest } from "../src/artifact/manifest.js";
import { VerifiedFiles, fileIdentity, verifiedFilesPath, vouchInProcess } from "../src/artifact/verified-files.js";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "../src/cli/cli.js";
import { silentLogger } from "../src/common/log.js";
import { EmbeddingService } from "../src/export/service.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { BUNDLED_VOCAB_SIZE } from "../src/fixtures/model-folder.js";
import { Embedder } from "../src/runtime/embedder.js";
import { Reranker } from "../src/runtime/reranker.js";
import { IsolatedSession } from "../src/ort/isolated-session.js";
import { withLoadedWorker } from "../src/ort/model-session.js";
import { modelFolder, runCli, tempDir } from "./helpers/index.js";

const TINY = { vocab: BUNDLED_VOCAB_SIZE, layers: 1, hidden: 32, heads: 2, intermediate: 64, maxPositions: 64 };
// This file's own memo: the user's is never read or written here.
process.env.JAZZMINE_CACHE_DIR = tempDir("jazzmine-memo-");
const env = { ...process.env, JAZZMINE_DEBUG: "" };
const MODEL = "model_fp32.onnx";

/** Resolves once process `pid` is gone (the test's timeout bounds it). */
async function exited(pid: number): Promise<void> {
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
const WHOLE_SECOND = 1_700_000_000;

let exported: string;

beforeAll(async () => {
  const source = modelFolder(syntheticBert({ ...TINY, seed: 91 }), {}, "model");
  exported = join(tempDir(), "out");
  await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(exported, { quantized: false });
});

/** A copy of the export (cp -p keeps mtimes; new inodes, so the memo knows none of its files). */
function copyOfExport(name: string): string {
  const dir = join(tempDir(), name);
  execFileSync("cp", ["-rp", exported, dir]);
  return dir;
}

const entryOf = (dir: string): ExportManifest => readManifest(dir)!.exports.at(-1)!;

/** Flips one byte in the middle of `path` in place: same size, another file. */
function corrupt(path: string): void {
  const bytes = readFileSync(path);
  bytes[bytes.length >> 1] ^= 0xff;
  writeFileSync(path, bytes);
}

/** Memo entries for every listed file of `dir` as they are now, with the manifest's hashes (as a forged memo would). */
function vouchForAll(dir: string, path = verifiedFilesPath()!): void {
  const memo = VerifiedFiles.read(path);
  for (const file of entryOf(dir).files) memo.remember(fileIdentity(join(dir, file.path)), file.sha256);
  memo.save();
}

/** Whether the memo at `path` vouches for every listed file of `dir`. */
function vouchesAll(dir: string, path = verifiedFilesPath()!): boolean {
  const memo = VerifiedFiles.read(path);
  return entryOf(dir).files.every((file) => memo.vouches(fileIdentity(join(dir, file.path)), file.sha256));
}

describe("the memo of verified files", () => {
  it("an export leaves its published files vouched for (hashed as written); a load of an unknown copy hashes and remembers them", async () => {
    expect(vouchesAll(exported)).toBe(true);
    for (const file of entryOf(exported).files) {
      expect(file.sha256, file.path).toBe(
        createHash("sha256")
          .update(readFileSync(join(exported, file.path)))
          .digest("hex"),
      );
    }
    const copy = copyOfExport("fresh-copy");
    expect(vouchesAll(copy)).toBe(false);
    const embedder = await Embedder.load(copy);
    await embedder.close();
    expect(vouchesAll(copy)).toBe(true);
    expect(statSync(verifiedFilesPath()!).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(verifiedFilesPath()!, "..")).filter((name) => name.startsWith("."))).toEqual([]); // no temp file left
  });

  it("a same-size change is caught however it was made: rewritten, mtime set back, replaced by another inode", async () => {
    const model = (dir: string) => join(dir, MODEL);
    const refused = (dir: string) => expect(Embedder.load(dir)).rejects.toThrow(`${model(dir)} is not the file this export wrote (sha256 `);

    const rewritten = copyOfExport("rewritten");
    await (await Embedder.load(rewritten)).close();
    corrupt(model(rewritten));
    await refused(rewritten);

    const mtimeNs = (path: string) => statSync(path, { bigint: true }).mtimeNs;
    const mtimeBack = copyOfExport("mtime-back");
    utimesSync(model(mtimeBack), WHOLE_SECOND, WHOLE_SECOND); // a time utimes can set back exactly
    await (await Embedder.load(mtimeBack)).close();
    const before = mtimeNs(model(mtimeBack));
    corrupt(model(mtimeBack));
    utimesSync(model(mtimeBack), WHOLE_SECOND, WHOLE_SECOND); // same size, same mtime: only the ctime tells
    expect(mtimeNs(model(mtimeBack))).toBe(before);
    await refused(mtimeBack);

    const replaced = copyOfExport("replaced");
    utimesSync(model(replaced), WHOLE_SECOND, WHOLE_SECOND);
    await (await Embedder.load(replaced)).close();
    const other = join(replaced, "other.onnx");
    execFileSync("cp", ["-p", model(replaced), other]);
    corrupt(other);
    utimesSync(other, WHOLE_SECOND, WHOLE_SECOND);
    renameSync(other, model(replaced)); // another inode with the old size and mtime
    expect(mtimeNs(model(replaced))).toBe(BigInt(WHOLE_SECOND) * 1_000_000_000n);
    await refused(replaced);
  });

  it('verify "full" (and --verify full) hashes what the memo vouches for: a corruption it cannot see is caught', async () => {
    const dir = copyOfExport("forged");
    corrupt(join(dir, MODEL));
    vouchForAll(dir); // the memo now vouches for the corrupted file (what a stale memo on a coarse file system could do)
    await (await Embedder.load(dir)).close(); // trusted: the memo is what spares the hash
    await expect(Embedder.load(dir, { verify: "full" })).rejects.toThrow(`${join(dir, MODEL)} is not the file this export wrote`);
    await expect(Reranker.load(dir, { verify: "full" })).rejects.toThrow(`${join(dir, MODEL)} is not the file this export wrote`);
    const run = await runCli(["embed", dir, "hello", "--verify", "full", "-q"], { env });
    expect([run.code, run.stderr]).toEqual([
      EXIT_FAILURE,
      expect.stringContaining(`${join(dir, MODEL)} is not the file this export wrote`),
    ]);
    expect((await runCli(["embed", dir, "hello", "-q"], { env })).code).toBe(EXIT_OK);
  });

  it("--verify takes cached or full; the library option likewise", async () => {
    const run = await runCli(["embed", exported, "hello", "--verify", "some"], { env });
    expect([run.code, run.stderr]).toEqual([EXIT_USAGE, expect.stringContaining("--verify must be one of cached, full, not some")]);
    await expect(Embedder.load(exported, { verify: "fast" as "full" })).rejects.toThrow(
      'verify must be one of "cached", "full", not "fast"',
    );
  });

  it("a memo that is not one this user wrote privately is ignored: corrupt, another format, one bad entry, shared-writable, a FIFO, a device, too large", async () => {
    const dir = copyOfExport("hostile");
    const manifest = entryOf(dir);
    const memoDir = tempDir("jazzmine-hostile-memo-");
    const memo = join(memoDir, "verified-files.json");
    corrupt(join(dir, MODEL));
    /** The memo at `memo` vouches for the corrupted files: checkManifestFiles passes only when it is trusted. */
    const trusted = async () =>
      checkManifestFiles(dir, manifest, "cached", VerifiedFiles.read(memo)).then(
        () => true,
        () => false,
      );
    vouchForAll(dir, memo);
    const good = readFileSync(memo, "utf8");
    expect(await trusted()).toBe(true);

    const hostile: Array<[string, () => void]> = [
      ["not JSON", () => writeFileSync(memo, good.slice(0, -20), { mode: 0o600 })],
      ["another format", () => writeFileSync(memo, good.replace("jazzmine-verified-files", "other"), { mode: 0o600 })],
      [
        "a bad entry among good ones",
        () => writeFileSync(memo, good.replace('"files":[', '"files":[{"path":"/x","sha256":1},'), { mode: 0o600 }),
      ],
      ["an inode that is not a digit string", () => writeFileSync(memo, good.replace(/"ino":"\d+"/, '"ino":"1e3"'), { mode: 0o600 })],
      [
        "writable by others",
        () => {
          writeFileSync(memo, good);
          chmodSync(memo, 0o666);
        },
      ],
      ["a FIFO", () => execFileSync("mkfifo", [memo])],
      ["a device", () => symlinkSync("/dev/zero", memo)],
      ["larger than a memo", () => writeFileSync(memo, good + " ".repeat(600 * 1024), { mode: 0o600 })],
    ];
    for (const [what, make] of hostile) {
      execFileSync("rm", ["-f", memo]);
      make();
      expect(await trusted(), what).toBe(false);
    }
    // Each is replaced by a good memo when a load saves what it verified.
    execFileSync("rm", ["-f", memo]);
    writeFileSync(memo, "{", { mode: 0o600 });
    await checkManifestFiles(exported, entryOf(exported), "cached", VerifiedFiles.read(memo));
    expect(vouchesAll(exported, memo)).toBe(true);
  });

  it("saves merge with what another process saved meanwhile, and keep the memo private", () => {
    const memo = join(tempDir("jazzmine-merge-memo-"), "sub", "verified-files.json");
    const first = VerifiedFiles.read(memo);
    const second = VerifiedFiles.read(memo);
    const model = join(exported, MODEL);
    const config = join(exported, "config.json");
    const sha = (path: string) => entryOf(exported).files.find((file) => join(exported, file.path) === path)!.sha256;
    first.remember(fileIdentity(model), sha(model));
    second.remember(fileIdentity(config), sha(config));
    first.save();
    second.save();
    const read = VerifiedFiles.read(memo);
    expect(read.vouches(fileIdentity(model), sha(model))).toBe(true);
    expect(read.vouches(fileIdentity(config), sha(config))).toBe(true);
    expect(read.vouches(fileIdentity(config), sha(model))).toBe(false); // the hash must be the manifest's
    expect(statSync(memo).mode & 0o777).toBe(0o600);
    expect(existsSync(join(exported, MANIFEST_FILE))).toBe(true);
  });
});

describe("the export's load check runs in the worker that verified the graph", () => {
  // A worker forked while this names the model kills itself loading it (isolated-session's test hook):
  // a session that opens is then the offered worker, already loaded.
  const crashNew = (dir: string) => (process.env.JAZZMINE_SIMULATE_ORT_CRASH = dir);
  afterEach(() => delete process.env.JAZZMINE_SIMULATE_ORT_CRASH);
  const texts = ["hello world", "an offered worker"];

  it("an offered worker is taken by the first isolated load of its unchanged file, once; other settings load anew", async () => {
    const dir = copyOfExport("offered");
    const worker = await IsolatedSession.open(join(dir, MODEL));
    const expected = await Embedder.load(dir).then(async (e) => [await e.embed(texts), await e.close()][0]);
    crashNew(dir);
    await withLoadedWorker({ worker: Promise.resolve(worker), loadedFrom: fileIdentity(join(dir, MODEL)) }, async () => {
      await expect(Embedder.load(dir, { isolated: true, threads: 1 })).rejects.toThrow("onnxruntime crashed (SIGSEGV)");
      const embedder = await Embedder.load(dir, { isolated: true });
      expect(await embedder.embed(texts)).toEqual(expected);
      await expect(Embedder.load(dir, { isolated: true })).rejects.toThrow("onnxruntime crashed (SIGSEGV)"); // taken once only
      await embedder.close();
    });
  });

  it("a file changed since the worker loaded it is loaded anew; a worker nobody took is closed", async () => {
    const dir = copyOfExport("offered-changed");
    const worker = await IsolatedSession.open(join(dir, MODEL));
    const loadedFrom = fileIdentity(join(dir, MODEL));
    utimesSync(join(dir, MODEL), WHOLE_SECOND, WHOLE_SECOND);
    crashNew(dir);
    await withLoadedWorker({ worker: Promise.resolve(worker), loadedFrom }, async () => {
      await expect(Embedder.load(dir, { isolated: true })).rejects.toThrow("onnxruntime crashed (SIGSEGV)");
    });
    await exited(worker.pid!);
    await expect(worker.run({})).rejects.toThrow(/exited|channel closed|cannot use/i);
  });

  it("a worker still on its way is awaited by the load that takes it; one that never comes fails that load with its reason", async () => {
    const dir = copyOfExport("offered-pending");
    const expected = await Embedder.load(dir).then(async (e) => [await e.embed(texts), await e.close()][0]);
    const loadedFrom = fileIdentity(join(dir, MODEL));
    const worker = IsolatedSession.start();
    let handOver: (w: IsolatedSession) => void = () => {};
    const pending = new Promise<IsolatedSession>((resolve) => (handOver = resolve));
    crashNew(dir);
    await withLoadedWorker({ worker: pending, loadedFrom }, async () => {
      const loading = Embedder.load(dir, { isolated: true });
      await worker.load(join(dir, MODEL)); // the verification, still under way when the runtime asked
      handOver(worker);
      const embedder = await loading;
      expect(await embedder.embed(texts)).toEqual(expected);
      await embedder.close();
    });
    const refused = Promise.reject(new Error("the primary graph did not verify"));
    refused.catch(() => {});
    await withLoadedWorker({ worker: refused, loadedFrom }, async () => {
      await expect(Embedder.load(dir, { isolated: true })).rejects.toThrow("the primary graph did not verify");
    });
  });
});

describe("hashes vouched for in this process", () => {
  it("keep only the most recent 512, so that a process exporting again and again does not grow", () => {
    const identity = (i: number) => ({ path: `/staged/${i}`, dev: "1", ino: String(i), size: "4", mtimeNs: "1", ctimeNs: "1" });
    for (let i = 0; i < 600; i++) vouchInProcess(identity(i), `hash${i}`);
    const memo = VerifiedFiles.read(undefined);
    expect(memo.vouches(identity(599), "hash599")).toBe(true);
    expect(memo.vouches(identity(88), "hash88")).toBe(true); // 600 − 512
    expect(memo.vouches(identity(87), "hash87")).toBe(false);
    expect(memo.vouches(identity(0), "hash0")).toBe(false);
  });
});
