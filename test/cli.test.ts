// The CLI as users run it (a real process: exit codes, what goes to stdout and stderr) and
// in-process through main(): help for every command, Hub exports with the environment's
// settings, gated repos, two processes exporting one model at once, embed, --json, --quiet.
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "../src/cli/cli.js";
import { Reporter } from "../src/export/progress.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { BUNDLED_VOCAB_SIZE } from "../src/fixtures/model-folder.js";
import { type ProcessRun, cliProcess } from "./helpers/cli-process.js";
import { FakeHub } from "./helpers/fake-hub.js";
import { modelFolder, runCli, tempDir } from "./helpers/index.js";

const ID = "org/tiny-bert";
const GATED = "org/gated-bert";
const TOKEN = "hf_cliSECRET0123456789token";

/** The environment a user would have, minus anything of this machine's Hugging Face setup. */
function hubEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env))
    if (value !== undefined && !key.startsWith("HF_") && !key.startsWith("HUGGING")) env[key] = value;
  return { ...env, HF_HOME: tempDir(), HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cacheDir, ...extra };
}

function cli(args: string[], env: Record<string, string> = hubEnv(), stdin?: string): Promise<ProcessRun> {
  return cliProcess(args, { env, ...(stdin !== undefined ? { stdin } : {}) });
}

let hub: FakeHub;
let cacheDir: string;

beforeAll(async () => {
  // Full bundled vocabulary so that `embed` can feed real tokenizer ids to the exported model.
  const repo = modelFolder(syntheticBert({ seed: 51, vocab: BUNDLED_VOCAB_SIZE, maxPositions: 64 }), {}, "repo");
  hub = await FakeHub.start([
    { id: ID, dir: repo },
    { id: GATED, dir: repo, gatedToken: TOKEN },
  ]);
  cacheDir = tempDir();
});

afterAll(async () => {
  await hub.stop();
});

describe("help, usage errors and exit codes (real process)", () => {
  it("--help for every command on stdout, exit 0; usage errors exit 2 with one line on stderr", async () => {
    for (const command of ["export", "tokenizer", "embed", "rerank", "bench"]) {
      const help = await runCli([command, "--help"], { env: hubEnv() });
      expect(help.code).toBe(EXIT_OK);
      expect(help.stdout).toMatch(new RegExp(`^usage: jazzmine-embed ${command} `));
      expect(help.stdout).toContain("exit codes: 0 success, 1 failure (model, network, files), 2 usage error");
      expect(help.stderr).toBe("");
    }
    expect((await runCli(["export", "-h"], { env: hubEnv() })).stdout).toContain("-o, --output <dir>");
    expect((await runCli(["export", "--help"], { env: hubEnv() })).stdout).toContain("--revision <rev>");

    const unknown = await cli(["frobnicate"]);
    expect(unknown).toEqual({
      code: EXIT_USAGE,
      stdout: "",
      stderr: `jazzmine-embed: error: unknown command "frobnicate" (commands: export, tokenizer, embed, rerank, bench)\nRun 'jazzmine-embed --help' for usage.\n`,
    });
    const help = await cli(["--help"]);
    expect(help.code).toBe(EXIT_OK);
    expect(help.stdout).toContain("HF_HUB_OFFLINE");

    for (const args of [
      ["export", ID],
      ["export", ID, "-o"],
      ["embed", "dir"],
      ["export", ID, "-o", "x", "--opset", "x"],
      ["tokenizer", ID, "-o", "x", "--nope"],
    ]) {
      const run = await runCli(args, { env: hubEnv() });
      expect(run.code, args.join(" ")).toBe(EXIT_USAGE);
      expect(run.stdout).toBe("");
      expect(run.stderr.split("\n")[0]).toMatch(/^jazzmine-embed: error: /);
    }
    // resolveQuantizationOptions' limits, as usage errors named by their flags.
    const threshold = await runCli(["export", ID, "-o", join(tempDir(), "never"), "--fidelity-threshold", "2"], { env: hubEnv() });
    expect(threshold.code).toBe(EXIT_USAGE);
    expect(threshold.stderr.split("\n")[0]).toBe("jazzmine-embed: error: --fidelity-threshold must be a cosine in (0, 1], not 2");
    const json = await runCli(["export", "--json"], { env: hubEnv() });
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: false,
      command: "export",
      exitCode: EXIT_USAGE,
      error: expect.stringMatching(/^missing <model-id/),
    });
  });
});

describe("local folders", () => {
  it("never read the Hub settings: a bad HF_ENDPOINT or HF_HUB_ETAG_TIMEOUT does not matter", async () => {
    const local = modelFolder(syntheticBert({ seed: 53, vocab: 3000 }), {}, "local");
    const out = join(tempDir(), "tok");
    const run = await runCli(["tokenizer", local, "-o", out, "--json"], {
      env: hubEnv({ HF_ENDPOINT: "ftp://x", HF_HUB_ETAG_TIMEOUT: "soon" }),
    });
    expect(run.code, run.stderr).toBe(EXIT_OK);
    expect(JSON.parse(run.stdout)).toMatchObject({
      ok: true,
      model: local,
      source: "folder",
      files: ["tokenizer.json", "tokenizer_config.json"],
    });
    const hubId = await runCli(["tokenizer", ID, "-o", join(tempDir(), "hub-tok")], { env: hubEnv({ HF_ENDPOINT: "ftp://x" }) });
    expect(hubId.code).toBe(EXIT_FAILURE);
    expect(hubId.stderr).toMatch(/HF_ENDPOINT "ftp:\/\/x" must be an http\(s\) URL/);
  });
});

describe("exports from the Hub (real processes)", () => {
  it("export by id: the artifact path is stdout's only line; progress on stderr; --json; --quiet", async () => {
    const out = join(tempDir(), "out");
    const run = await cli(["export", ID, "-o", out, "--fp32"]);
    expect(run.stderr).toBe(run.stderr.trim() + "\n");
    expect(run.code, run.stderr).toBe(EXIT_OK);
    expect(run.stdout).toBe(`${join(out, "org-tiny-bert_fp32.onnx")}\n`);
    expect(run.stderr).toMatch(/^downloading model\.safetensors \([\d.]+ MB\)$/m); // not a TTY: plain lines
    expect(run.stderr).toContain("building, writing and verifying the FP32 graph…");

    const again = await runCli(["export", ID, "-o", out, "--fp32", "--json"], { env: hubEnv() });
    expect(again.code, again.stderr).toBe(EXIT_OK);
    const summary = JSON.parse(again.stdout) as Record<string, unknown>;
    expect(summary).toMatchObject({
      ok: true,
      command: "export",
      model: ID,
      source: "hub",
      revision: "main",
      commit: expect.stringMatching(/^[0-9a-f]{40}$/),
      downloaded: [], // second export: everything came from the cache
      artifact: join(out, "org-tiny-bert_fp32.onnx"),
      precision: "fp32",
      files: ["config.json", "export_manifest.json", "org-tiny-bert_fp32.onnx", "tokenizer.json", "tokenizer_config.json"],
    });
    expect(again.stdout.trim().split("\n")).toHaveLength(1);

    const quiet = await runCli(["tokenizer", ID, "-o", join(tempDir(), "tok"), "--quiet"], { env: hubEnv() });
    expect(quiet).toMatchObject({ code: EXIT_OK, stderr: "" });
  });

  it("gated: exit 1 with what to do; with HF_TOKEN it works and the token is in no output", async () => {
    const out = join(tempDir(), "gated");
    const denied = await cli(["tokenizer", GATED, "-o", out]);
    expect(denied.code).toBe(EXIT_FAILURE);
    expect(denied.stdout).toBe("");
    expect(denied.stderr).toBe(
      `jazzmine-embed: error: ${GATED} is gated or private (HTTP 401): request access at ${hub.endpoint}/${GATED}, then set HF_TOKEN to an access token of that account (or run huggingface-cli login)\n`,
    );
    const allowed = await cli(["export", GATED, "-o", out, "--fp32", "--json"], hubEnv({ HF_TOKEN: TOKEN, JAZZMINE_DEBUG: "1" }));
    expect(allowed.code, allowed.stderr).toBe(EXIT_OK);
    expect(JSON.parse(allowed.stdout)).toMatchObject({ ok: true, model: GATED });
    expect(`${allowed.stdout}${allowed.stderr}${denied.stderr}`).not.toContain(TOKEN);
    const files = [cacheDir, out].flatMap((dir) => (readdirSync(dir, { recursive: true }) as string[]).map((p) => join(dir, p)));
    expect(files.filter((f) => statSync(f).isFile() && readFileSync(f).includes(TOKEN))).toEqual([]);
  });

  it("two processes exporting the same model at once: one download per file, same result, cache intact", async () => {
    const id = "org/race-bert";
    const repo = modelFolder(syntheticBert({ seed: 52, vocab: 3000 }), {}, "race");
    hub.addRepo({ id, dir: repo });
    const shared = tempDir();
    // The weights' body waits until both processes have asked for the weights, then streams slowly.
    hub.cdnGate = () =>
      hub.requests.filter((r) => r.method === "HEAD" && r.path.includes(`${id}/resolve/`) && r.path.endsWith("/model.safetensors"))
        .length >= 2;
    hub.slowChunkBytes = 16_384;
    const before = hub.requests.length;
    const [outA, outB] = [join(tempDir(), "a"), join(tempDir(), "b")];
    try {
      const runs = await Promise.all([outA, outB].map((out) => cli(["export", id, "-o", out, "--fp32"], hubEnv({ HF_HUB_CACHE: shared }))));
      for (const run of runs) expect(run.code, run.stderr).toBe(EXIT_OK);
      expect(runs.some((run) => run.stderr.includes("waiting for another process downloading model.safetensors"))).toBe(true);
    } finally {
      hub.cdnGate = () => true;
      hub.slowChunkBytes = 0;
    }
    const gets = hub.requests.slice(before).filter((r) => r.method === "GET" && (r.server === "cdn" || r.path.includes("/resolve/")));
    const perFile = new Map<string, number>();
    for (const r of gets)
      perFile.set(
        r.path.replace(/^.*\/resolve\/[0-9a-f]{40}\//, ""),
        (perFile.get(r.path.replace(/^.*\/resolve\/[0-9a-f]{40}\//, "")) ?? 0) + 1,
      );
    expect([...perFile.values()].every((n) => n === 1)).toBe(true);
    expect(gets.filter((r) => r.server === "cdn")).toHaveLength(1);
    expect(readFileSync(join(outA, "org-race-bert_fp32.onnx"))).toEqual(readFileSync(join(outB, "org-race-bert_fp32.onnx")));
    const repoCache = join(shared, "models--org--race-bert");
    expect(readdirSync(join(repoCache, "blobs")).filter((f) => !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(f))).toEqual([]);
    expect(readdirSync(join(shared, ".locks", "models--org--race-bert"))).toEqual([]);
    expect(existsSync(join(repoCache, "refs", "main"))).toBe(true);
  });
});

describe("embed", () => {
  it("prints one vector per text as JSON (real process); --json, stdin and pooling options in-process", async () => {
    const dir = join(tempDir(), "emb");
    expect((await runCli(["export", ID, "-o", dir, "--fp32", "-q"], { env: hubEnv() })).code).toBe(EXIT_OK);
    const run = await cli(["embed", dir, "hello world", "", "日本語 🙂"]);
    expect(run.code, run.stderr).toBe(EXIT_OK);
    const vectors = JSON.parse(run.stdout) as number[][];
    expect(vectors).toHaveLength(3);
    for (const v of vectors) {
      expect(v).toHaveLength(32);
      expect(Math.hypot(...v)).toBeCloseTo(1, 5);
    }

    const fromStdin = await runCli(["embed", dir, "-", "--json", "--pooling", "mean", "--no-normalize"], {
      env: hubEnv(),
      stdin: "hello world\n\n日本語 🙂\n",
    });
    expect(fromStdin.code, fromStdin.stderr).toBe(EXIT_OK);
    const summary = JSON.parse(fromStdin.stdout) as {
      vectors: number[][];
      pooling: string;
      normalized: boolean;
      dimensions: number;
      maxLength: number;
    };
    expect(summary).toMatchObject({ ok: true, command: "embed", pooling: "mean", normalized: false, dimensions: 32, maxLength: 64 });
    expect(summary.vectors).toHaveLength(3);
    expect(Math.hypot(...summary.vectors[0]!)).not.toBeCloseTo(1, 2);
    const cls = JSON.parse((await runCli(["embed", dir, "hello world", "--pooling", "cls", "-q"], { env: hubEnv() })).stdout) as number[][];
    expect(cls[0]).toEqual(vectors[0]);

    const bad = await runCli(["embed", dir, "x", "--pooling", "sum"], { env: hubEnv() });
    expect(bad.code).toBe(EXIT_USAGE);
    const missing = await runCli(["embed", join(dir, "nope"), "x"], { env: hubEnv() });
    expect(missing).toMatchObject({ code: EXIT_FAILURE, stdout: "" });
    expect(missing.stderr).toMatch(/^jazzmine-embed: error: .*nope does not exist; pass the folder an export wrote/);
  });
});

describe("progress on stderr", () => {
  it("a terminal gets a redrawn bar and spinner, a log file plain lines, --quiet only warnings", async () => {
    const written: string[] = [];
    const tty = new Reporter({ write: (t: string) => written.push(t), isTTY: true, columns: 80 });
    const download = tty.bytes("model.safetensors", 2_000_000);
    download.advance(1_000_000);
    await new Promise((resolve) => setTimeout(resolve, 150));
    tty.info("a log line between redraws");
    download.done();
    const screen = written.join("");
    expect(screen).toMatch(/\r\x1b\[2Kmodel\.safetensors \|█+░+\|  50% 1\.0 MB\/2\.0 MB/);
    expect(screen).toContain("a log line between redraws\n");
    expect(screen).toMatch(/✓ downloaded model\.safetensors \(1\.0 MB in [\d.]+ s\)\n$/);

    const lines: string[] = [];
    const plain = new Reporter({ write: (t: string) => lines.push(t) });
    plain.bytes("model.safetensors", 2_000_000, 500_000).done();
    plain.step("verifying").done();
    expect(lines).toEqual(["downloading model.safetensors (2.0 MB), resuming at 500.0 kB\n", "verifying…\n"]);

    const quietLines: string[] = [];
    const quiet = new Reporter({ write: (t: string) => quietLines.push(t), isTTY: true }, { quiet: true });
    quiet.info("hidden");
    quiet.bytes("x", 10).done();
    quiet.warn("shown");
    expect(quietLines).toEqual(["warning: shown\n"]);
  });
});
