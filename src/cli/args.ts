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

/** A flag, or a flag with one value (`--dtype fp16`), as one side of a conflict. */
export interface FlagCondition {
  flag: string;
  value?: string;
}

/** Two settings that exclude each other: given together they are a usage error naming both. */
export type FlagConflict = readonly [FlagCondition, FlagCondition];

export interface ParsedArgs {
  positionals: string[];
  flags: Flags;
}

/**
 * Flags and positionals of `argv`. A value flag given twice, or two settings `conflicts` declares
 * exclusive, are usage errors naming both: one of them would otherwise win silently.
 */
export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[], conflicts: readonly FlagConflict[] = []): ParsedArgs {
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
    const previous = flags[spec.name];
    if (previous !== undefined) {
      throw new UsageError(`--${spec.name} given twice (${String(previous)} and ${value}); give it once`);
    }
    flags[spec.name] = value;
  }
  for (const pair of conflicts) {
    if (pair.every((side) => holds(side, flags))) {
      throw new UsageError(`${pair.map(({ flag }) => describeFlag(flag, flags)).join(" and ")} exclude each other; pick one`);
    }
  }
  return { positionals, flags };
}

function holds({ flag, value }: FlagCondition, flags: Flags): boolean {
  return value === undefined ? flags[flag] !== undefined : flags[flag] === value;
}

/** `--fp32`, `--mode int4`: the flag as it was given. */
function describeFlag(flag: string, flags: Flags): string {
  const given = flags[flag];
  return given === true ? `--${flag}` : `--${flag} ${String(given)}`;
}

export function formatFlags(specs: readonly FlagSpec[]): string {
  const rows = specs.map((s) => [`${s.alias ? `-${s.alias}, ` : "    "}--${s.name}${s.value ? ` <${s.value}>` : ""}`, s.help] as const);
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, help]) => `  ${left.padEnd(width)}  ${help}`).join("\n");
}
