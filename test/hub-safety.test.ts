// Hub names and credentials as a hostile or careless user supplies them: a revision, repo id or
// repo file name that would lead outside the cache is refused before any path is built or any
// request is made; HF_ENDPOINT's user:password and tokens in URLs never reach a message.
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { redactCredentials } from "../src/common/redact.js";
import { RepoCache } from "../src/export/hub/cache.js";
import { HubClient } from "../src/export/hub/client.js";
import { repoFileProblem, repoIdProblem, revisionProblem } from "../src/export/hub/names.js";
import { HubSettings } from "../src/export/hub/settings.js";
import { EmbeddingService } from "../src/export/service.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "../src/cli/cli.js";
import { closedPort, hubsStoppedAfterEach } from "./helpers/fake-hub.js";
import { modelFolder, recordingLogger, runCli, tempDir } from "./helpers/index.js";

const ID = "org/tiny-bert";
const SECRET = "pa55SECRETword";

const startHub = hubsStoppedAfterEach();

const listing = (dir: string) => (readdirSync(dir, { recursive: true }) as string[]).sort();

/** The CLI's environment with only the Hub settings given here. */
function env(settings: Record<string, string>): Record<string, string> {
  return { HF_HOME: tempDir(), HF_HUB_CACHE: tempDir(), ...settings };
}

describe("Hub names are checked before any path is built", () => {
  it("--revision ../../../../<dir>/EVILREF: one line, exit 2, no request, nothing written anywhere (even from a Hub that answers it)", async () => {
    const target = tempDir();
    const cacheDir = join(tempDir(), "hub");
    const evil = `${"../".repeat(12)}${target.slice(1)}/EVILREF`;
    const repo = modelFolder(syntheticBert({ seed: 3 }), {}, "repo");
    const hub = await startHub([]);
    const { commit } = hub.addRepo({ id: ID, dir: repo });
    // A hostile mirror answers for that revision: only the check stands between it and refs/<revision>.
    hub.addRepo({ id: ID, dir: repo, revisions: { main: commit, [evil]: commit } });
    const out = join(tempDir(), "out");

    const run = await runCli(["export", ID, "--revision", evil, "-o", out, "--fp32"], {
      env: env({ HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cacheDir }),
    });
    expect(run.code).toBe(EXIT_USAGE);
    expect(run.stdout).toBe("");
    expect(run.stderr).toBe(
      `jazzmine-embed: error: revision ${JSON.stringify(evil)} is not a branch, tag or commit sha the Hub allows: it may not contain '..' or '@{'; ` +
        `pass one of the repository's (--revision)\nRun 'jazzmine-embed --help' for usage.\n`,
    );
    expect(hub.requests).toEqual([]);
    expect(listing(target)).toEqual([]);
    expect(existsSync(cacheDir)).toBe(false);
    expect(existsSync(out)).toBe(false);

    // The library refuses it too, before a request or a cache folder.
    const client = new HubClient({
      settings: new HubSettings({ endpoint: hub.endpoint, cacheDir }),
      revision: evil,
      logger: recordingLogger(),
    });
    await expect(client.resolve(ID, "tokenizer")).rejects.toThrow(
      /^revision ".+EVILREF" is not a branch, tag or commit sha the Hub allows/,
    );
    expect(hub.requests).toEqual([]);
    expect(listing(target)).toEqual([]);
    expect(existsSync(cacheDir)).toBe(false);
  });

  it("a shard name that climbs out of the snapshot is refused, naming the index; nothing is fetched for it", async () => {
    const repo = modelFolder(syntheticBert({ seed: 4 }), {}, "repo");
    rmSync(join(repo, "model.safetensors")); // the index is read only when there is no single file
    writeFileSync(
      join(repo, "model.safetensors.index.json"),
      JSON.stringify({ weight_map: { "embeddings.word_embeddings.weight": "../../../../evil.safetensors" } }),
    );
    const hub = await startHub([{ id: ID, dir: repo }]);
    const cacheDir = tempDir();
    const resolver = new HubClient({ settings: new HubSettings({ endpoint: hub.endpoint, cacheDir }), logger: recordingLogger() });
    const out = join(tempDir(), "out");
    await expect(
      new EmbeddingService(ID, { resolver, logger: recordingLogger() }).exportOnnxModel(out, { quantized: false }),
    ).rejects.toThrow(
      `model.safetensors.index.json's weight_map names the file "../../../../evil.safetensors", which must be a relative path without empty, '.' or '..' parts; ` +
        "refusing to use it (is HF_ENDPOINT a Hugging Face Hub?)",
    );
    expect(hub.fileRequests().some((r) => r.path.includes("evil"))).toBe(false);
    expect(listing(cacheDir).some((p) => p.includes("evil"))).toBe(false);
    expect(existsSync(out)).toBe(false);
  });

  it("the cache itself builds no path from an invalid repo id, revision, file name, ETag or commit", () => {
    const cacheDir = tempDir();
    expect(() => new RepoCache(cacheDir, "../../etc")).toThrow(`"../../etc" is not a Hugging Face Hub id: it is not of the form org/name`);
    const cache = new RepoCache(cacheDir, ID);
    expect(() => cache.writeRef("../x", "a".repeat(40))).toThrow(/^revision "\.\.\/x" is not a branch, tag or commit sha/);
    expect(() => cache.cachedCommit("refs/../../x")).toThrow(/^revision "refs\/\.\.\/\.\.\/x" is not a branch/);
    expect(() => cache.pointerPath("a".repeat(40), "../config.json")).toThrow(
      `the Hub names the file "../config.json", which must be a relative path`,
    );
    expect(() => cache.markMissing("a".repeat(40), "/etc/passwd")).toThrow(
      `the Hub names the file "/etc/passwd", which must be a relative path`,
    );
    expect(() => cache.blobPath("..")).toThrow(`the Hub sent the ETag "..", which cannot name a cache file`);
    expect(() => cache.snapshotDir("../../x")).toThrow(`"../../x" is not a commit sha (40 hex digits)`);
    expect(listing(cacheDir)).toEqual([]);
  });

  it("follows the Hub's rules: huggingface_hub's repo ids, git's ref names, relative repo paths", () => {
    for (const id of ["BAAI/bge-small-en-v1.5", "sentence-transformers/all-MiniLM-L6-v2", "org_1/a.b-c"])
      expect(repoIdProblem(id), id).toBeUndefined();
    expect(repoIdProblem("org/a--b")).toBe("may not contain '--' or '..'");
    expect(repoIdProblem("org/a..b")).toBe("may not contain '--' or '..'");
    expect(repoIdProblem("org/name.git")).toBe("may not end with .git");
    expect(repoIdProblem(`org/${"a".repeat(93)}`)).toBe("is longer than 96 characters");
    for (const id of ["org/.hidden", "-org/name", "org/name-", "org/na me", "org/na%2Fme"])
      expect(repoIdProblem(id), id).toMatch(/^may hold only letters/);
    for (const id of ["name", "a/b/c", "/org/name", "org/"])
      expect(repoIdProblem(id), id).toMatch(/^is not of the form org\/name$|^may hold only/);

    for (const revision of ["main", "v1.0", "refs/pr/1", "feature/long-name_2", "0123456789abcdef0123456789abcdef01234567"]) {
      expect(revisionProblem(revision), revision).toBeUndefined();
    }
    expect(revisionProblem("")).toBe("is empty");
    for (const revision of ["../x", "a/../b", "a..b", "@{-1}", "@"])
      expect(revisionProblem(revision), revision).toBe("may not contain '..' or '@{'");
    for (const revision of [".hidden", "a/.b", "x.lock", "refs/x.lock"])
      expect(revisionProblem(revision), revision).toMatch(/part that starts with '\.' or ends with '\.lock'/);
    for (const revision of ["/a", "a/", "a//b"])
      expect(revisionProblem(revision), revision).toBe("may not start or end with '/' or contain '//'");
    for (const revision of ["a b", "a~1", "a^", "a:b", "a?", "a*", "a[b", "a\\b", "a\u0000b", "a\nb"])
      expect(revisionProblem(revision), JSON.stringify(revision)).toMatch(/^may not contain spaces/);
    expect(revisionProblem("v1.")).toBe("may not end with '.'");

    for (const path of ["config.json", "1_Pooling/config.json", "onnx/model.onnx", "a.b/c..d"])
      expect(repoFileProblem(path), path).toBeUndefined();
    for (const path of ["../x", "a/../../x", "/abs", "a//b", "./x", "a/"])
      expect(repoFileProblem(path), path).toBe("must be a relative path without empty, '.' or '..' parts");
    expect(repoFileProblem("a\\..\\x")).toBe("may not contain control characters or backslashes");
    expect(repoFileProblem("")).toBe("is empty");
  });
});

describe("credentials never reach a message", () => {
  it("HF_ENDPOINT=http://user:SECRET@host works (HTTP Basic auth to the endpoint only) and its password is printed nowhere", async () => {
    const repo = modelFolder(syntheticBert({ seed: 5 }), {}, "repo");
    const hub = await startHub([{ id: ID, dir: repo }]);
    const endpoint = hub.endpoint.replace("http://", `http://user:${SECRET}@`);
    const out = join(tempDir(), "tok");
    const ok = await runCli(["tokenizer", ID, "-o", out, "--json"], { env: env({ HF_ENDPOINT: endpoint }) });
    expect(ok.code).toBe(EXIT_OK);
    expect(listing(out)).toEqual(["tokenizer.json", "tokenizer_config.json"]);
    expect(`${ok.stdout}${ok.stderr}`).not.toContain(SECRET);
    expect(JSON.parse(ok.stdout).files).toEqual(["tokenizer.json", "tokenizer_config.json"]);
    const basic = `Basic ${Buffer.from(`user:${SECRET}`).toString("base64")}`;
    expect(hub.requests.filter((r) => r.server === "hub").every((r) => r.authorization === basic)).toBe(true);
    expect(hub.requests.filter((r) => r.server === "cdn").every((r) => r.authorization === undefined)).toBe(true);

    const missing = await runCli(["tokenizer", "org/nope", "-o", join(tempDir(), "x")], { env: env({ HF_ENDPOINT: endpoint }) });
    expect(missing).toEqual({
      code: EXIT_FAILURE,
      stdout: "",
      stderr: `jazzmine-embed: error: org/nope was not found on ${hub.endpoint}: check the model id; for a private repo set HF_TOKEN (or run huggingface-cli login)\n`,
    });

    const port = await closedPort();
    const unreachable = await runCli(["tokenizer", ID, "-o", join(tempDir(), "y")], {
      env: env({ HF_ENDPOINT: `http://user:${SECRET}@127.0.0.1:${port}` }),
    });
    expect(unreachable.code).toBe(EXIT_FAILURE);
    expect(unreachable.stderr).toMatch(
      new RegExp(
        `^jazzmine-embed: error: cannot reach http://127\\.0\\.0\\.1:${port} \\(connection refused\\) and ${ID}@main is not in the Hub cache`,
      ),
    );
    expect(unreachable.stderr).not.toContain(SECRET);
  });

  it("an HF_ENDPOINT with a token in its query string is refused without echoing the token", async () => {
    const run = await runCli(["tokenizer", ID, "-o", join(tempDir(), "z")], {
      env: env({ HF_ENDPOINT: `https://mirror.example/?token=${SECRET}` }),
    });
    expect(run).toEqual({
      code: EXIT_FAILURE,
      stdout: "",
      stderr: `jazzmine-embed: error: HF_ENDPOINT "https://mirror.example/?token=***" has a query string or fragment; set it to the Hub's base URL, like https://huggingface.co\n`,
    });
    expect(() => HubSettings.fromEnv({ HF_ENDPOINT: `ftp://u:${SECRET}@x` })).toThrow(`HF_ENDPOINT "ftp://***@x" must be an http(s) URL`);
  });

  it("redactCredentials masks userinfo, secret query parameters and Hugging Face tokens, and leaves the rest", () => {
    expect(redactCredentials(`cannot reach https://me:${SECRET}@mirror.example/api (refused)`)).toBe(
      "cannot reach https://***@mirror.example/api (refused)",
    );
    expect(redactCredentials(`GET https://cdn.example/blob?X-Amz-Credential=AKIA&X-Amz-Signature=${SECRET}&X-Amz-Expires=60 failed`)).toBe(
      "GET https://cdn.example/blob?X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Expires=60 failed",
    );
    expect(redactCredentials(`https://h/x?access_token=${SECRET}&rev=main#top`)).toBe("https://h/x?access_token=***&rev=main#top");
    expect(redactCredentials(`http://h/b?signature=${SECRET}&Key-Pair-Id=K1&Policy=P`)).toBe(
      "http://h/b?signature=***&Key-Pair-Id=***&Policy=***",
    );
    expect(redactCredentials("token hf_abcdefghijklmnopqrstuvwxyz0123 leaked")).toBe("token hf_*** leaked");
    const plain = "org/tiny-bert@main has no file tokenizer.json (HTTP 404); see https://huggingface.co/org/tiny-bert?x=1";
    expect(redactCredentials(plain)).toBe(plain);
  });
});
