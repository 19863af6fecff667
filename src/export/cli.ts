#!/usr/bin/env node
// jazzmine-embed: export Hugging Face embedding models to verified ONNX files.
// stdout carries only the artifact path (last line); logs go to stderr.
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { DEFAULT_OPSET, MAX_OPSET, MIN_OPSET } from "../graph/opset.js";
import { type FlagSpec, UsageError, formatFlags, parseArgs } from "./cli-args.js";
import { stderrLogger } from "./log.js";
import { DEFAULT_MODEL_ID, EmbeddingService } from "./service.js";
import { PACKAGE_VERSION } from "./version.js";

interface Command {
  summary: string;
  usage: string;
  flags: FlagSpec[];
  run(positionals: string[], flags: Record<string, string | true>): Promise<string>;
}

const OUTPUT: FlagSpec = { name: "output", alias: "o", value: "dir", help: "folder to write into (created if missing)" };
const HELP: FlagSpec = { name: "help", alias: "h", help: "show this help" };

const COMMANDS: Record<string, Command> = {
  export: {
    summary: "export a model to ONNX (with its tokenizer files)",
    usage: `jazzmine-embed export <model-id-or-folder> --output <dir> [options]`,
    flags: [
      OUTPUT,
      { name: "fp32", help: "write the FP32 model (INT8 is not available yet; required for now)" },
      { name: "opset", value: "N", help: `ONNX opset, ${MIN_OPSET}-${MAX_OPSET} (default ${DEFAULT_OPSET})` },
      { name: "token-type-ids", help: "add a token_type_ids input (models with token types)" },
      { name: "variant", value: "primary|portable", help: "emit only this graph variant, no fallback" },
      HELP,
    ],
    async run([model, ...rest], flags) {
      const modelId = requireModel(model, rest);
      const variant = flags.variant;
      if (variant !== undefined && variant !== "primary" && variant !== "portable") {
        throw new UsageError(`--variant must be primary or portable, not ${String(variant)}`);
      }
      const service = new EmbeddingService(modelId, { logger: stderrLogger });
      return service.exportOnnxModel(requireOutput(flags), {
        quantized: !flags.fp32,
        ...(flags.opset !== undefined ? { opset: parseOpset(flags.opset) } : {}),
        tokenTypeIds: flags["token-type-ids"] === true,
        ...(variant ? { variant } : {}),
      });
    },
  },
  tokenizer: {
    summary: "write only the tokenizer files (no weights are read)",
    usage: `jazzmine-embed tokenizer <model-id-or-folder> --output <dir>`,
    flags: [OUTPUT, HELP],
    async run([model, ...rest], flags) {
      return new EmbeddingService(requireModel(model, rest), { logger: stderrLogger }).exportTokenizerOnly(requireOutput(flags));
    },
  },
};

function requireModel(model: string | undefined, rest: string[]): string {
  if (!model) throw new UsageError(`missing <model-id-or-folder> (for example ${DEFAULT_MODEL_ID} or ./my-model)`);
  if (rest.length > 0) throw new UsageError(`unexpected argument ${rest[0]}`);
  return model;
}

function requireOutput(flags: Record<string, string | true>): string {
  const output = flags.output;
  if (typeof output !== "string") throw new UsageError("missing --output <dir>");
  return output;
}

function parseOpset(value: string | true): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new UsageError(`--opset must be an integer from ${MIN_OPSET} to ${MAX_OPSET}, not ${String(value)}`);
  return n;
}

function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    `jazzmine-embed ${PACKAGE_VERSION} — Hugging Face embedding models to verified ONNX, no Python`,
    "",
    "usage: jazzmine-embed <command> [options]",
    "",
    "commands:",
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    "",
    "Run 'jazzmine-embed <command> --help' for a command's options.",
  ].join("\n");
}

function commandHelp(command: Command): string {
  return [`usage: ${command.usage}`, "", command.summary, "", "options:", formatFlags(command.flags)].join("\n");
}

/** Runs the CLI; returns the exit code (0 ok, 1 failure, 2 usage error). */
export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    const topic = name === "help" ? rest[0] : undefined;
    const command = topic ? COMMANDS[topic] : undefined;
    process.stdout.write(`${command ? commandHelp(command) : mainHelp()}\n`);
    return 0;
  }
  if (name === "--version" || name === "-v") {
    process.stdout.write(`${PACKAGE_VERSION}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  try {
    if (!command) throw new UsageError(`unknown command "${name}" (commands: ${Object.keys(COMMANDS).join(", ")})`);
    const { positionals, flags } = parseArgs(rest, command.flags);
    if (flags.help) {
      process.stdout.write(`${commandHelp(command)}\n`);
      return 0;
    }
    const artifact = await command.run(positionals, flags);
    process.stdout.write(`${artifact}\n`);
    return 0;
  } catch (error) {
    const usage = error instanceof UsageError;
    const message = (error as Error)?.message ?? String(error);
    process.stderr.write(`jazzmine-embed: error: ${message}${usage ? "\nRun 'jazzmine-embed --help' for usage." : ""}\n`);
    if (process.env.JAZZMINE_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    return usage ? 2 : 1;
  }
}

function isEntryPoint(): boolean {
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
