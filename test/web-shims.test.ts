// The browser build's stand-ins for node built-ins (web/shims) answer as node does for the calls
// the compiler makes: paths against node:path's POSIX flavour, SHA-256 against node:crypto, and
// the in-memory file system's folders, renames and removals.
import { createHash as nodeHash } from "node:crypto";
import { posix } from "node:path";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { createHash } from "../web/shims/crypto.js";
import * as fs from "../web/shims/fs.js";
import * as path from "../web/shims/path.js";

const segment = fc.constantFrom("a", "b", "model.onnx", ".hidden", "..", ".", "", "x.tar.gz");
const pathOf = fc
  .tuple(fc.boolean(), fc.array(segment, { maxLength: 5 }))
  .map(([absolute, parts]) => (absolute ? "/" : "") + parts.join("/"));

describe("web/shims/path", () => {
  test("join, dirname, basename, extname, resolve and relative answer as node:path.posix with the working folder /", () => {
    fc.assert(
      fc.property(pathOf, pathOf, (a, b) => {
        expect(path.join(a, b)).toBe(posix.join(a, b));
        expect(path.dirname(a)).toBe(posix.dirname(a));
        expect(path.basename(a)).toBe(posix.basename(a));
        expect(path.extname(a)).toBe(posix.extname(a));
        expect(path.isAbsolute(a)).toBe(posix.isAbsolute(a));
        expect(path.resolve(a, b)).toBe(posix.resolve("/", a, b));
        expect(path.relative(a, b)).toBe(posix.relative(posix.resolve("/", a), posix.resolve("/", b)));
      }),
      { numRuns: 500 },
    );
  });
});

test("web/shims/crypto: SHA-256 over any split of any bytes is node's", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), (bytes, at) => {
      const split = bytes.length === 0 ? 0 : at % bytes.length;
      const hash = createHash("sha256").update(bytes.subarray(0, split)).update(bytes.subarray(split));
      expect(hash.digest("hex")).toBe(nodeHash("sha256").update(bytes).digest("hex"));
    }),
  );
});

test("web/shims/fs: folders, exclusive creation, renames of folders and recursive removal", async () => {
  fs.mkdirSync("/t/out/.stage", { recursive: true });
  fs.writeFileSync("/t/out/.stage/m.onnx", "graph");
  expect(() => fs.writeFileSync("/t/out/.stage/sub/x", "x")).toThrow(expect.objectContaining({ code: "ENOENT" }));
  expect(() => fs.writeFileSync("/t/out/.stage/m.onnx", "again", { flag: "wx" })).toThrow(expect.objectContaining({ code: "EEXIST" }));
  const fd = fs.openSync("/t/out/.stage/w.bin", "w");
  fs.writeSync(fd, new Uint8Array([1, 2]));
  fs.writeSync(fd, new Uint8Array([3]));
  fs.closeSync(fd);
  expect([...fs.fileBytes("/t/out/.stage/w.bin")]).toEqual([1, 2, 3]);
  fs.renameSync("/t/out/.stage", "/t/out/published");
  expect(fs.readdirSync("/t/out")).toEqual(["published"]);
  expect(fs.readFileSync("t/out/published/m.onnx", "utf8")).toBe("graph");
  expect(fs.statSync("/t/out/published/w.bin")!.size).toBe(3);
  expect(fs.statSync("/t/missing", { throwIfNoEntry: false })).toBeUndefined();
  fs.mkdirSync("/t/out/published/sub");
  fs.writeFileSync("/t/out/published/sub/y", "y");
  expect(fs.readdirSync("/t/out", { recursive: true })).toEqual([
    "published",
    "published/m.onnx",
    "published/sub",
    "published/sub/y",
    "published/w.bin",
  ]);
  expect(() => fs.rmdirSync("/t/out/published")).toThrow(expect.objectContaining({ code: "ENOTEMPTY" }));
  fs.rmSync("/t/out/published", { recursive: true });
  expect(fs.existsSync("/t/out/published/sub/y")).toBe(false);
  expect(fs.readdirSync("/t/out")).toEqual([]);
});
