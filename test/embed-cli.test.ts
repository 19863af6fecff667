// `embed` as a hostile or unlucky user runs it: a command line past onnxruntime's ~29 KB crash
// point, a native crash of onnxruntime, bulk texts from a file or stdin, a reader that stops
// early (`| head`), folders without tokenizer.json or with several models; and exports rejected
// up front leave no folder. Crashes and pipes run in real processes.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "../src/cli/cli.js";
import { silentLogger } from "../src/common/log.js";
import { EmbeddingService } from "../src/export/service.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { BUNDLED_VOCAB_SIZE } from "../src/fixtures/model-folder.js";
import { Embedder } from "../src/runtime/embedder.js";
import { ROOT, cliCommand, cliProcess } from "./helpers/cli-process.js";
import { modelFolder, runCli, tempDir } from "./helpers/index.js";

const HIDDEN = 32;
const env = { ...process.env, JAZZMINE_DEBUG: "" };

let source: string;
let dir: string;
let modelFile: string;

beforeAll(async () => {
  source = modelFolder(syntheticBert({ seed: 61, vocab: BUNDLED_VOCAB_SIZE, hidden: HIDDEN, maxPositions: 64 }), {}, "embed-src");
  dir = join(tempDir(), "exported");
  const path = await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(dir, { quantized: false });
  modelFile = path.slice(dir.length + 1);
});

const listing = (folder: string) => (readdirSync(folder, { recursive: true }) as string[]).sort();

async function inProcessVectors(texts: string[]): Promise<number[][]> {
  const embedder = await Embedder.load(dir);
  try {
    return (await embedder.embed(texts)).map((v) => Array.from(v));
  } finally {
    await embedder.close();
  }
}

function expectSameVectors(actual: number[][], expected: number[][]): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((row, i) => {
    expect(row.length).toBe(HIDDEN);
    expect(Math.max(...row.map((v, j) => Math.abs(v - expected[i]![j]!)))).toBeLessThan(1e-6);
  });
}

describe("onnxruntime runs in a child process of the CLI", () => {
  it("a command line over 30 KB (one 5,000-word text) embeds instead of crashing (exit 139 before)", async () => {
    const long = Array.from({ length: 5000 }, (_, i) => `word${i}`).join(" ");
    expect(long.length).toBeGreaterThan(30_000);
    const run = await cliProcess(["embed", dir, long, "-q"], { env });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(EXIT_OK);
    expectSameVectors(JSON.parse(run.stdout), await inProcessVectors([long]));
  });

  it("a native onnxruntime crash is one error line and exit 1, not a bare segfault", async () => {
    const run = await cliProcess(["embed", dir, "hello"], { env: { ...env, JAZZMINE_SIMULATE_ORT_CRASH: modelFile } });
    expect(run.code).toBe(EXIT_FAILURE);
    expect(run.stdout).toBe("");
    expect(run.stderr).toBe(
      `jazzmine-embed: error: onnxruntime cannot load ${join(dir, modelFile)}: onnxruntime crashed (SIGSEGV) while working on ${join(dir, modelFile)}; export the model again\n`,
    );
  });

  it("`embed … | head` ends quietly: no EPIPE trace, the command's own exit code", async () => {
    const file = join(tempDir(), "many.txt");
    writeFileSync(file, `${Array.from({ length: 600 }, (_, i) => `text number ${i}`).join("\n")}\n`); // ~250 KB of JSON: more than a pipe holds
    const script = `${cliCommand()} embed '${dir}' --input '${file}' -q | head -c 100; echo " embed exit \${PIPESTATUS[0]}" >&2`;
    const run = spawnSync("bash", ["-c", script], { cwd: ROOT, env, encoding: "utf8" });
    expect(run.stdout).toHaveLength(100);
    expect(run.stdout.startsWith("[[")).toBe(true);
    expect(run.stderr).toBe(" embed exit 0\n");
  });
});

describe("bulk texts: --input texts.txt|texts.jsonl|-", () => {
  it("one vector per line, in order, empty lines included; JSON lines; stdin", async () => {
    const texts = ["first text", "", "日本語 🙂", "last"];
    const expected = await inProcessVectors(texts);
    const txt = join(tempDir(), "texts.txt");
    writeFileSync(txt, `${texts.join("\r\n")}\n`);
    const fromTxt = await runCli(["embed", dir, "--input", txt, "-q"], { env });
    expect(fromTxt.code, fromTxt.stderr).toBe(EXIT_OK);
    expectSameVectors(JSON.parse(fromTxt.stdout), expected);

    const jsonl = join(tempDir(), "texts.jsonl");
    writeFileSync(
      jsonl,
      `${JSON.stringify(texts[0])}\n${JSON.stringify({ text: texts[1], id: 7 })}\n\n${texts
        .slice(2)
        .map((t) => JSON.stringify({ text: t }))
        .join("\n")}`,
    );
    const fromJsonl = await runCli(["embed", dir, "--input", jsonl, "-q"], { env });
    expect(fromJsonl.code, fromJsonl.stderr).toBe(EXIT_OK);
    expectSameVectors(JSON.parse(fromJsonl.stdout), expected);

    const fromStdin = await runCli(["embed", dir, "--input", "-", "-q"], { env, stdin: `${texts.join("\n")}\n` });
    expect(fromStdin.code, fromStdin.stderr).toBe(EXIT_OK);
    expectSameVectors(JSON.parse(fromStdin.stdout), expected);
  });

  it("bad input files: one line each, exit 1; texts and --input together: exit 2", async () => {
    const empty = join(tempDir(), "empty.txt");
    writeFileSync(empty, "");
    const binary = join(tempDir(), "bin.txt");
    writeFileSync(binary, Buffer.from([104, 0, 105]));
    const badJson = join(tempDir(), "bad.jsonl");
    writeFileSync(badJson, '"ok"\n{"txt": 1}\n');
    const csv = join(tempDir(), "x.csv");
    writeFileSync(csv, "a,b\n");
    const cases: Array<[string[], number, string]> = [
      [["--input", empty], EXIT_FAILURE, `jazzmine-embed: error: input file ${empty} holds no texts\n`],
      [["--input", binary], EXIT_FAILURE, `jazzmine-embed: error: input file ${binary} is binary (it holds NUL bytes), not text\n`],
      [
        ["--input", badJson],
        EXIT_FAILURE,
        `jazzmine-embed: error: input file ${badJson} line 2: expected a JSON string or an object with a "text" string\n`,
      ],
      [["--input", join(dir, "nope.txt")], EXIT_FAILURE, `jazzmine-embed: error: input file ${join(dir, "nope.txt")} does not exist\n`],
      [
        ["--input", csv],
        EXIT_FAILURE,
        `jazzmine-embed: error: input file ${csv}: use .txt (one text per line) or .jsonl (one JSON string or {"text": ...} per line)\n`,
      ],
      [
        ["hello", "--input", empty],
        EXIT_USAGE,
        "jazzmine-embed: error: give the texts to embed as arguments or with --input, not both\nRun 'jazzmine-embed --help' for usage.\n",
      ],
    ];
    for (const [args, code, stderr] of cases)
      expect(await runCli(["embed", dir, ...args], { env }), args.join(" ")).toEqual({ code, stdout: "", stderr });
  });
});

describe("messages that say what to do there", () => {
  it("a folder without tokenizer.json says what is missing, not that an export needs it", async () => {
    const bare = tempDir();
    copyFileSync(join(dir, modelFile), join(bare, modelFile));
    expect(await runCli(["embed", bare, "hello"], { env })).toEqual({
      code: EXIT_FAILURE,
      stdout: "",
      stderr: `jazzmine-embed: error: ${bare} has no tokenizer.json, which the Embedder tokenizes with; put the model's tokenizer files beside the ONNX file (jazzmine-embed tokenizer <model> -o ${bare})\n`,
    });
    expect(listing(bare)).toEqual([modelFile]);
  });

  it("several ONNX files: the CLI names its --file flag (the library its { file } option)", async () => {
    const several = tempDir();
    for (const file of readdirSync(dir)) copyFileSync(join(dir, file), join(several, file));
    copyFileSync(join(dir, modelFile), join(several, "other_fp32.onnx"));
    rmSync(join(several, "export_manifest.json"), { force: true }); // a folder from before manifests
    const run = await runCli(["embed", several, "hello"], { env });
    expect(run).toEqual({
      code: EXIT_FAILURE,
      stdout: "",
      stderr: `jazzmine-embed: error: ${several} holds several ONNX files (${[modelFile, "other_fp32.onnx"].sort().join(", ")}); choose one with --file <name>\n`,
    });
    await expect(Embedder.load(several)).rejects.toThrow(/; choose one with \{ file \}$/);
    const chosen = await runCli(["embed", several, "hello", "--file", "other_fp32.onnx", "-q"], { env });
    expect(chosen.code, chosen.stderr).toBe(EXIT_OK);
  });

  it("an export rejected up front creates no output folder", async () => {
    const noConfig = modelFolder(syntheticBert({ seed: 62 }), {}, "no-config");
    rmSync(join(noConfig, "config.json"));
    const noTokenizer = modelFolder(syntheticBert({ seed: 63 }), { tokenizer: false }, "no-tokenizer");
    const parent = tempDir();
    const cases: Array<[string[], number]> = [
      [["export", noConfig, "--fp32"], EXIT_FAILURE],
      [["export", noTokenizer, "--fp32"], EXIT_FAILURE],
      [["export", source, "--calibration", join(parent, "missing.txt")], EXIT_FAILURE],
      [["export", source, "--opset", "99"], EXIT_USAGE], // an option error (#22), exit 2 like every other
      [["export", join(parent, "no-such-model")], EXIT_FAILURE],
      [["tokenizer", noTokenizer], EXIT_FAILURE],
    ];
    for (const [args, code] of cases) {
      const out = join(parent, "out", "nested");
      const run = await runCli([...args, "-o", out], { env });
      expect(run.code, `${args.join(" ")}: ${run.stderr}`).toBe(code);
      // One line (a usage error adds the pointer to --help).
      expect(run.stderr.trim().split("\n"), args.join(" ")).toHaveLength(code === EXIT_USAGE ? 2 : 1);
      expect(existsSync(join(parent, "out")), args.join(" ")).toBe(false);
    }
    expect(listing(parent)).toEqual([]);
  });
});
