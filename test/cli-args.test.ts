// Flags that would silently lose to another: a value flag given twice, two settings that exclude
// each other, and values out of range are usage errors (exit 2) that name the flags as typed.
import fc from "fast-check";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type FlagSpec, parseArgs } from "../src/cli/args.js";
import { UsageError } from "../src/common/usage.js";
import { EXIT_USAGE } from "../src/cli/cli.js";
import { runCli, tempDir } from "./helpers/index.js";

const SPECS: FlagSpec[] = [
  { name: "query", value: "text", help: "" },
  { name: "mode", value: "m", help: "" },
  { name: "fp32", help: "" },
];

const firstLine = (text: string) => text.split("\n")[0];

describe("parseArgs", () => {
  it("a value flag given twice names both values, in any spelling (--flag v, --flag=v)", () => {
    const value = fc.string({ minLength: 1, maxLength: 8 }).filter((v) => !v.startsWith("-"));
    fc.assert(
      fc.property(value, value, fc.boolean(), (a, b, inline) => {
        const argv = ["--query", a, ...(inline ? [`--query=${b}`] : ["--query", b])];
        let thrown: unknown;
        try {
          parseArgs(argv, SPECS);
        } catch (error) {
          thrown = error;
        }
        expect(thrown).toBeInstanceOf(UsageError);
        expect((thrown as Error).message).toBe(`--query given twice (${a} and ${b}); give it once`);
      }),
    );
    // A switch given twice says the same thing twice: no error.
    expect(parseArgs(["--fp32", "--fp32"], SPECS).flags).toEqual({ fp32: true });
  });

  it("declared conflicts name both flags as given; a conflict on one value leaves the others alone", () => {
    const conflicts = [[{ flag: "fp32" }, { flag: "mode", value: "int4" }]] as const;
    expect(() => parseArgs(["--mode", "int4", "--fp32"], SPECS, conflicts)).toThrow("--fp32 and --mode int4 exclude each other; pick one");
    expect(parseArgs(["--mode", "static", "--fp32"], SPECS, conflicts).flags).toEqual({ mode: "static", fp32: true });
  });
});

describe("the CLI", () => {
  const never = () => join(tempDir(), "never");
  const usage = async (args: string[]) => {
    const run = await runCli(args, { env: {} });
    return { code: run.code, line: firstLine(run.stderr), stdout: run.stdout };
  };

  it("refuses precisions that exclude each other, before anything is read", async () => {
    const cases: Array<[string[], string]> = [
      [["--dtype", "fp16", "--mode", "int4"], "--dtype fp16 and --mode int4 exclude each other; pick one"],
      [["--dtype", "fp16", "--mode", "dynamic"], "--dtype fp16 and --mode dynamic exclude each other; pick one"],
      [["--fp32", "--mode", "int4"], "--fp32 and --mode int4 exclude each other; pick one"],
      [["--fp32", "--dtype", "fp16"], "--fp32 and --dtype fp16 exclude each other; pick one"],
    ];
    for (const [flags, message] of cases) {
      const output = never();
      expect(await usage(["export", "./no-such-model", "-o", output, ...flags])).toEqual({
        code: EXIT_USAGE,
        line: `jazzmine-embed: error: ${message}`,
        stdout: "",
      });
    }
  });

  it("a second --query is refused instead of replacing the first", async () => {
    expect(await usage(["rerank", "./no-such-dir", "--query", "a", "--query", "b", "doc"])).toEqual({
      code: EXIT_USAGE,
      line: "jazzmine-embed: error: --query given twice (a and b); give it once",
      stdout: "",
    });
  });

  it("values out of range are usage errors named by their flags, checked before the folder is opened", async () => {
    const cases: Array<[string[], string]> = [
      [["rerank", "./no-such-dir", "--query", "q", "doc", "--top-k", "0"], "--top-k must be an integer of at least 1, not 0"],
      [["rerank", "./no-such-dir", "--query", "q", "doc", "--batch-size", "0"], "--batch-size must be an integer of at least 1, not 0"],
      [["embed", "./no-such-dir", "text", "--batch-size", "0"], "--batch-size must be an integer of at least 1, not 0"],
      [["embed", "./no-such-dir", "text", "--dimensions", "0"], "--dimensions must be an integer of at least 1, not 0"],
      [["embed", "./no-such-dir", "text", "--max-length", "1"], "--max-length must be an integer of at least 2, not 1"],
      [["embed", "./no-such-dir", "--sparse", "text", "--top-k", "0"], "--top-k must be an integer of at least 1, not 0"],
    ];
    for (const [args, message] of cases) {
      expect(await usage(args), args.join(" ")).toEqual({ code: EXIT_USAGE, line: `jazzmine-embed: error: ${message}`, stdout: "" });
    }
  });
});
