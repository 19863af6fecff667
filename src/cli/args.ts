// A small, strict argument parser: declared flags only, clear usage errors.

import { UsageError } from "../common/usage.js";

export interface FlagSpec {
  /** Long name without dashes, e.g. "output". */
  name: string;
  alias?: string;
  /** Takes a value (otherwise a boolean switch). */
  value?: string;
  help: string;
}

/** Flag name → its value, or true for a switch. */
export type Flags = Record<string, string | true>;

export interface ParsedArgs {
  positionals: string[];
  flags: Flags;
}

export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  const byName = new Map<string, FlagSpec>();
  for (const spec of specs) {
    byName.set(`--${spec.name}`, spec);
    if (spec.alias) byName.set(`-${spec.alias}`, spec);
  }
  const positionals: string[] = [];
  const flags: Flags = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const [key, inline] =
      arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    const spec = byName.get(key);
    if (!spec) throw new UsageError(`unknown option ${key}`);
    if (!spec.value) {
      if (inline !== undefined) throw new UsageError(`--${spec.name} takes no value`);
      flags[spec.name] = true;
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined || (inline === undefined && value.startsWith("-") && value.length > 1)) {
      throw new UsageError(`--${spec.name} needs a value (${spec.value})`);
    }
    flags[spec.name] = value;
  }
  return { positionals, flags };
}

export function formatFlags(specs: readonly FlagSpec[]): string {
  const rows = specs.map((s) => [`${s.alias ? `-${s.alias}, ` : "    "}--${s.name}${s.value ? ` <${s.value}>` : ""}`, s.help] as const);
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, help]) => `  ${left.padEnd(width)}  ${help}`).join("\n");
}
