// Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe: JSON
// messages, NUL-terminated, written to the browser's fd 3 and read from its fd 4): no npm
// browser driver, no download. Used by the browser test and bench/browser.ts.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";

/** The Chromium binary: $CHROMIUM, else the first of Debian's and others' names on PATH. */
export function findChromium(): string | undefined {
  const candidates = [process.env.CHROMIUM, "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];
  for (const name of candidates) {
    if (!name) continue;
    const found = spawnSync("sh", ["-c", `command -v "$1"`, "sh", name], { encoding: "utf8" });
    if (found.status === 0 && found.stdout.trim()) return found.stdout.trim();
  }
  return undefined;
}

type Listener = (params: Record<string, unknown>, sessionId?: string) => void;

export class Chromium {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly listeners = new Map<string, Listener[]>();
  private buffered = "";
  private stderrTail = "";
  /** Why Chromium can no longer answer (set when it exited). */
  private exited: Error | undefined;

  private constructor(
    private readonly child: ChildProcess,
    private readonly profile: string,
  ) {
    const output = child.stdio[4] as Readable;
    output.setEncoding("utf8");
    output.on("data", (chunk: string) => {
      this.buffered += chunk;
      let end: number;
      while ((end = this.buffered.indexOf("\0")) >= 0) {
        const message = JSON.parse(this.buffered.slice(0, end)) as {
          id?: number;
          result?: unknown;
          error?: { message: string };
          method?: string;
          params?: Record<string, unknown>;
          sessionId?: string;
        };
        this.buffered = this.buffered.slice(end + 1);
        if (message.id !== undefined) {
          const waiter = this.pending.get(message.id);
          this.pending.delete(message.id);
          if (message.error) waiter?.reject(new Error(message.error.message));
          else waiter?.resolve(message.result);
        } else if (message.method) {
          for (const listener of this.listeners.get(message.method) ?? []) listener(message.params ?? {}, message.sessionId);
        }
      }
    });
    child.stderr?.on("data", (chunk: Buffer) => (this.stderrTail = (this.stderrTail + chunk.toString()).slice(-2000)));
    child.on("exit", (code, signal) => {
      this.exited = new Error(`Chromium exited (${signal ?? code}): ${this.stderrTail}`);
      for (const waiter of this.pending.values()) waiter.reject(this.exited);
      this.pending.clear();
    });
    // A write after Chromium exited (EPIPE) is reported by the exit above, not as an unhandled error.
    (child.stdio[3] as Writable).on("error", () => {});
  }

  static launch(binary: string): Chromium {
    const profile = mkdtempSync(join(tmpdir(), "jazzmine-chromium-"));
    const args = [
      "--headless=new",
      "--remote-debugging-pipe",
      `--user-data-dir=${profile}`,
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-gpu",
      "--disable-extensions",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      // Anything but the loopback server fails to resolve: the page must need nothing else.
      "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
      // Chromium's sandbox refuses to run as root (CI containers).
      ...(process.getuid?.() === 0 ? ["--no-sandbox"] : []),
      "about:blank",
    ];
    const child = spawn(binary, args, { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] });
    return new Chromium(child, profile);
  }

  send<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<T> {
    const id = this.nextId++;
    const input = this.child.stdio[3] as Writable;
    if (this.exited) return Promise.reject(this.exited); // nobody would answer
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      input.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    });
  }

  on(method: string, listener: Listener): void {
    this.listeners.set(method, [...(this.listeners.get(method) ?? []), listener]);
  }

  /** A new page (tab) attached in flat mode: its session id. */
  async newPage(): Promise<string> {
    const { targetId } = await this.send<{ targetId: string }>("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await this.send<{ sessionId: string }>("Target.attachToTarget", { targetId, flatten: true });
    return sessionId;
  }

  /** Evaluates `expression` in the page (awaiting a promise) and returns its value; a thrown error rejects. */
  async evaluate<T>(sessionId: string, expression: string): Promise<T> {
    const reply = await this.send<{ result: { value?: T }; exceptionDetails?: { exception?: { description?: string }; text: string } }>(
      "Runtime.evaluate",
      { expression, awaitPromise: true, returnByValue: true },
      sessionId,
    );
    if (reply.exceptionDetails) throw new Error(reply.exceptionDetails.exception?.description ?? reply.exceptionDetails.text);
    return reply.result.value as T;
  }

  async close(): Promise<void> {
    await this.send("Browser.close").catch(() => {});
    if (this.child.exitCode === null && this.child.signalCode === null) {
      await new Promise<void>((done) => {
        const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
        this.child.once("exit", () => {
          clearTimeout(timer);
          done();
        });
      });
    }
    rmSync(this.profile, { recursive: true, force: true });
  }
}
