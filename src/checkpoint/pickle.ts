// A restricted pickle reader: a data-only pickle machine. It builds plain values (None, bools,
// numbers, strings, bytes, lists, tuples, dicts) and nothing else unless the caller allows it:
// GLOBAL / STACK_GLOBAL resolve only names the caller's allow-list knows, REDUCE calls only
// those globals' own TypeScript `call`, and persistent ids go to the caller's `persistentLoad`.
// Nothing named in the pickle is ever looked up or executed; every other way a pickle can
// construct objects (INST, OBJ, NEWOBJ, EXT…) is refused. Opcodes: Python's pickletools.
//
// The machine never recurses and every length is checked against the bytes left, so hostile
// input ends in a WeightError, never in a crash, a hang or an oversized allocation.
import { quote } from "../common/messages.js";
import { WeightError } from "./weights.js";

/** A Python tuple (lists are JS arrays, dicts are Maps). */
export class PickleTuple {
  constructor(readonly items: readonly unknown[]) {}
}

/** Keys a dict may have here (Python allows any hashable; checkpoints use strings). */
export type PickleKey = string | number | bigint | boolean | null;

/** A global the caller allows: an inert name, callable by REDUCE only through `call`. */
export interface AllowedGlobal {
  readonly module: string;
  readonly name: string;
  /** What REDUCE builds from the argument tuple; absent: the global cannot be called. */
  call?(args: readonly unknown[]): unknown;
}

export interface UnpickleOptions {
  /** How errors name the pickle, e.g. "model.bin (data.pkl)". */
  label: string;
  /** The allowed global for module.name, or undefined to refuse it. */
  findGlobal(module: string, name: string): AllowedGlobal | undefined;
  /** Resolves a BINPERSID id; absent: persistent ids are refused. */
  persistentLoad?(pid: unknown): unknown;
  /** What the file may use, for refusals ("tensor rebuild functions, storage types …"). */
  allowedSummary: string;
  /** What to do instead, ending refusals ("convert the checkpoint to safetensors"). */
  advice: string;
}

// Opcodes (pickletools), by protocol.
const OP = {
  MARK: 0x28,
  STOP: 0x2e,
  POP: 0x30,
  POP_MARK: 0x31,
  DUP: 0x32,
  BININT: 0x4a,
  BININT1: 0x4b,
  BININT2: 0x4d,
  NONE: 0x4e,
  BINPERSID: 0x51,
  REDUCE: 0x52,
  BINUNICODE: 0x58,
  APPEND: 0x61,
  BUILD: 0x62,
  GLOBAL: 0x63,
  APPENDS: 0x65,
  BINGET: 0x68,
  LONG_BINGET: 0x6a,
  EMPTY_LIST: 0x5d,
  BINPUT: 0x71,
  LONG_BINPUT: 0x72,
  SETITEM: 0x73,
  TUPLE: 0x74,
  EMPTY_TUPLE: 0x29,
  SETITEMS: 0x75,
  BINFLOAT: 0x47,
  EMPTY_DICT: 0x7d,
  // protocol 2
  PROTO: 0x80,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  LONG1: 0x8a,
  LONG4: 0x8b,
  // protocol 3
  BINBYTES: 0x42,
  SHORT_BINBYTES: 0x43,
  // protocol 4
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE8: 0x8d,
  BINBYTES8: 0x8e,
  STACK_GLOBAL: 0x93,
  MEMOIZE: 0x94,
  FRAME: 0x95,
} as const;

/** Opcodes that build objects from arbitrary classes: never allowed, whatever the allow-list. */
const OBJECT_BUILDERS: Readonly<Record<number, string>> = {
  0x69: "INST",
  0x6f: "OBJ",
  0x81: "NEWOBJ",
  0x92: "NEWOBJ_EX",
  0x82: "EXT1",
  0x83: "EXT2",
  0x84: "EXT4",
};

/** Opcodes of pickles that are not weight checkpoints; named in the error. */
const UNSUPPORTED: Readonly<Record<number, string>> = {
  0x46: "FLOAT",
  0x49: "INT",
  0x4c: "LONG",
  0x50: "PERSID",
  0x53: "STRING",
  0x54: "BINSTRING",
  0x55: "SHORT_BINSTRING",
  0x56: "UNICODE",
  0x64: "DICT",
  0x67: "GET",
  0x6c: "LIST",
  0x70: "PUT",
  0x8f: "EMPTY_SET",
  0x90: "ADDITEMS",
  0x91: "FROZENSET",
  0x96: "BYTEARRAY8",
  0x97: "NEXT_BUFFER",
  0x98: "READONLY_BUFFER",
};

const HIGHEST_PROTOCOL = 5;
/** GLOBAL's module and name are short dotted identifiers; a longer line is not a checkpoint. */
const MAX_GLOBAL_LINE = 256;
const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** Runs the pickle in `bytes` up to its STOP and returns the value it built. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): unknown {
  return new PickleMachine(bytes, options).run();
}

class PickleMachine {
  private readonly view: DataView;
  private at = 0;
  /** Position of the opcode being run, for messages. */
  private opAt = 0;
  private readonly stack: unknown[] = [];
  /** Stack heights at each open MARK. */
  private readonly marks: number[] = [];
  private readonly memo = new Map<number, unknown>();

  constructor(
    private readonly bytes: Uint8Array,
    private readonly options: UnpickleOptions,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  run(): unknown {
    for (;;) {
      this.opAt = this.at;
      const op = this.u8();
      switch (op) {
        case OP.PROTO: {
          const protocol = this.u8();
          if (protocol > HIGHEST_PROTOCOL)
            throw this.corrupt(`pickle protocol ${protocol} is newer than any Python writes (≤ ${HIGHEST_PROTOCOL})`);
          break;
        }
        case OP.FRAME: {
          // A read-ahead hint: the frame's bytes are ordinary opcodes that follow.
          const length = this.u64();
          if (length > this.bytes.length - this.at) throw this.corrupt(`a FRAME of ${length} bytes runs past the end`);
          break;
        }
        case OP.STOP:
          return this.pop();
        case OP.MARK:
          this.marks.push(this.stack.length);
          break;
        case OP.POP:
          this.pop();
          break;
        case OP.POP_MARK:
          this.popMark();
          break;
        case OP.DUP:
          this.push(this.peek());
          break;
        case OP.NONE:
          this.push(null);
          break;
        case OP.NEWTRUE:
          this.push(true);
          break;
        case OP.NEWFALSE:
          this.push(false);
          break;
        case OP.BININT:
          this.push(this.view.getInt32(this.take(4), true));
          break;
        case OP.BININT1:
          this.push(this.u8());
          break;
        case OP.BININT2:
          this.push(this.view.getUint16(this.take(2), true));
          break;
        case OP.LONG1:
          this.push(this.long(this.u8()));
          break;
        case OP.LONG4:
          this.push(this.long(this.u32()));
          break;
        case OP.BINFLOAT:
          this.push(this.view.getFloat64(this.take(8), false));
          break;
        case OP.SHORT_BINUNICODE:
          this.push(this.text(this.u8()));
          break;
        case OP.BINUNICODE:
          this.push(this.text(this.u32()));
          break;
        case OP.BINUNICODE8:
          this.push(this.text(this.u64()));
          break;
        case OP.SHORT_BINBYTES:
          this.push(this.raw(this.u8()).slice());
          break;
        case OP.BINBYTES:
          this.push(this.raw(this.u32()).slice());
          break;
        case OP.BINBYTES8:
          this.push(this.raw(this.u64()).slice());
          break;
        case OP.EMPTY_TUPLE:
          this.push(new PickleTuple([]));
          break;
        case OP.TUPLE1:
        case OP.TUPLE2:
        case OP.TUPLE3: {
          const count = op - OP.TUPLE1 + 1;
          const items: unknown[] = [];
          for (let i = 0; i < count; i++) items.unshift(this.pop());
          this.push(new PickleTuple(items));
          break;
        }
        case OP.TUPLE:
          this.push(new PickleTuple(this.popMark()));
          break;
        case OP.EMPTY_LIST:
          this.push([]);
          break;
        case OP.APPEND: {
          const item = this.pop();
          this.list(this.peek()).push(item);
          break;
        }
        case OP.APPENDS: {
          const items = this.popMark();
          this.list(this.peek()).push(...items);
          break;
        }
        case OP.EMPTY_DICT:
          this.push(new Map<PickleKey, unknown>());
          break;
        case OP.SETITEM: {
          const value = this.pop();
          const key = this.pop();
          this.dict(this.peek()).set(this.key(key), value);
          break;
        }
        case OP.SETITEMS: {
          const items = this.popMark();
          if (items.length % 2 !== 0) throw this.corrupt("SETITEMS with an odd number of items");
          const dict = this.dict(this.peek());
          for (let i = 0; i < items.length; i += 2) dict.set(this.key(items[i]), items[i + 1]);
          break;
        }
        case OP.BINPUT:
          this.memo.set(this.u8(), this.peek());
          break;
        case OP.LONG_BINPUT:
          this.memo.set(this.u32(), this.peek());
          break;
        case OP.MEMOIZE:
          this.memo.set(this.memo.size, this.peek());
          break;
        case OP.BINGET:
          this.push(this.recall(this.u8()));
          break;
        case OP.LONG_BINGET:
          this.push(this.recall(this.u32()));
          break;
        case OP.GLOBAL: {
          const module = this.line();
          this.push(this.global(module, this.line()));
          break;
        }
        case OP.STACK_GLOBAL: {
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== "string" || typeof name !== "string") throw this.corrupt("STACK_GLOBAL needs a module and a name string");
          this.push(this.global(module, name));
          break;
        }
        case OP.REDUCE: {
          const args = this.pop();
          const callable = this.pop();
          this.push(this.reduce(callable, args));
          break;
        }
        case OP.BUILD: {
          const state = this.pop();
          this.build(this.peek(), state);
          break;
        }
        case OP.BINPERSID: {
          const pid = this.pop();
          if (!this.options.persistentLoad)
            throw this.refuse("it refers to persistent objects (BINPERSID), which this reader does not resolve");
          this.push(this.options.persistentLoad(pid));
          break;
        }
        default:
          throw this.unsupported(op);
      }
    }
  }

  // --- stack ------------------------------------------------------------------------------

  private push(value: unknown): void {
    this.stack.push(value);
  }

  /** Pops one value; a MARK bounds what can be popped, as in Python's machine. */
  private pop(): unknown {
    if (this.stack.length <= (this.marks.at(-1) ?? 0)) throw this.corrupt("the stack is empty");
    return this.stack.pop();
  }

  private peek(): unknown {
    if (this.stack.length <= (this.marks.at(-1) ?? 0)) throw this.corrupt("the stack is empty");
    return this.stack[this.stack.length - 1];
  }

  /** The values pushed since the last MARK, removing them and the mark. */
  private popMark(): unknown[] {
    const mark = this.marks.pop();
    if (mark === undefined) throw this.corrupt("an opcode needs a MARK but none is open");
    return this.stack.splice(mark);
  }

  private recall(index: number): unknown {
    if (!this.memo.has(index)) throw this.corrupt(`memo entry ${index} is read before it is written`);
    return this.memo.get(index);
  }

  // --- objects ----------------------------------------------------------------------------

  private list(target: unknown): unknown[] {
    if (!Array.isArray(target)) throw this.refuse(`APPEND/APPENDS targets ${kind(target)}, not a list`);
    return target;
  }

  private dict(target: unknown): Map<PickleKey, unknown> {
    if (!(target instanceof Map)) throw this.refuse(`SETITEM/SETITEMS targets ${kind(target)}, not a dict`);
    return target as Map<PickleKey, unknown>;
  }

  private key(value: unknown): PickleKey {
    const type = typeof value;
    if (value === null || type === "string" || type === "number" || type === "bigint" || type === "boolean") return value as PickleKey;
    throw this.corrupt(`a dict key is ${kind(value)}; only strings, numbers, booleans and None are supported`);
  }

  private global(module: string, name: string): AllowedGlobal {
    const allowed = this.options.findGlobal(module, name);
    if (!allowed) {
      throw this.refuse(
        `it asks for the Python global ${quote(`${module}.${name}`)}, which is not on the allow-list (${this.options.allowedSummary})`,
      );
    }
    return allowed;
  }

  private reduce(callable: unknown, args: unknown): unknown {
    if (!isAllowedGlobal(callable) || !callable.call) {
      throw this.refuse(
        `REDUCE would call ${isAllowedGlobal(callable) ? quote(`${callable.module}.${callable.name}`) : kind(callable)}, which is not callable here`,
      );
    }
    if (!(args instanceof PickleTuple)) throw this.corrupt(`REDUCE's arguments are ${kind(args)}, not a tuple`);
    return callable.call(args.items);
  }

  /**
   * BUILD sets an object's state. The only harmless case a checkpoint needs: a dict (an
   * OrderedDict state_dict) given attributes such as `_metadata`, which are dropped.
   */
  private build(target: unknown, state: unknown): void {
    const attributes = state instanceof PickleTuple ? state.items : [state];
    if (target instanceof Map && attributes.every((a) => a === null || a instanceof Map)) return;
    throw this.refuse(`BUILD would set the state of ${kind(target)}`);
  }

  // --- reading ----------------------------------------------------------------------------

  /** Reserves `length` bytes and returns where they start. */
  private take(length: number): number {
    if (length > this.bytes.length - this.at) {
      throw this.corrupt(`it ends after ${this.bytes.length} bytes, inside an opcode needing ${length} more`);
    }
    const start = this.at;
    this.at += length;
    return start;
  }

  private u8(): number {
    return this.view.getUint8(this.take(1));
  }

  private u32(): number {
    return this.view.getUint32(this.take(4), true);
  }

  private u64(): number {
    const value = this.view.getBigUint64(this.take(8), true);
    // Past the end either way: take() reports it.
    return value > BigInt(this.bytes.length) ? this.bytes.length + 1 : Number(value);
  }

  private raw(length: number): Uint8Array {
    const start = this.take(length);
    return this.bytes.subarray(start, start + length);
  }

  private text(length: number): string {
    try {
      return UTF8.decode(this.raw(length));
    } catch (error) {
      if (error instanceof WeightError) throw error;
      throw this.corrupt("a string is not valid UTF-8");
    }
  }

  /** A GLOBAL argument: ASCII up to a newline. */
  private line(): string {
    const end = this.bytes.indexOf(0x0a, this.at);
    if (end < 0 || end - this.at > MAX_GLOBAL_LINE) throw this.corrupt("GLOBAL's module or name is not a short newline-terminated line");
    const value = this.text(end - this.at);
    this.at += 1;
    return value;
  }

  /** LONG1/LONG4: little-endian two's complement; a number when it is safe, else a bigint. */
  private long(length: number): number | bigint {
    const digits = this.raw(length);
    let value = 0n;
    for (let i = digits.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(digits[i]!);
    if (length > 0 && digits[length - 1]! & 0x80) value -= 1n << BigInt(8 * length);
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  }

  // --- errors -----------------------------------------------------------------------------

  private corrupt(what: string): WeightError {
    return new WeightError(
      `${this.options.label}: damaged pickle at byte ${this.opAt}: ${what}; the checkpoint is corrupt — re-download it or ${this.options.advice}`,
    );
  }

  private refuse(why: string): WeightError {
    return new WeightError(
      `${this.options.label}: refusing to load: ${why} (pickle byte ${this.opAt}); nothing in the file was executed — ${this.options.advice}`,
    );
  }

  private unsupported(op: number): WeightError {
    const builder = OBJECT_BUILDERS[op];
    if (builder) return this.refuse(`pickle opcode ${builder} builds objects of arbitrary Python classes`);
    const name = UNSUPPORTED[op];
    const what = name ? `pickle opcode ${name} (0x${hex(op)}), which torch.save never writes` : `unknown pickle opcode 0x${hex(op)}`;
    return this.refuse(`it uses ${what}`);
  }
}

function isAllowedGlobal(value: unknown): value is AllowedGlobal {
  return typeof value === "object" && value !== null && "module" in value && "name" in value && !(value instanceof Map);
}

/** A short description of a pickled value, for messages (never recursive). */
export function kind(value: unknown): string {
  if (value === null) return "None";
  if (Array.isArray(value)) return "a list";
  if (value instanceof PickleTuple) return `a ${value.items.length}-tuple`;
  if (value instanceof Map) return "a dict";
  if (value instanceof Uint8Array) return "bytes";
  if (isAllowedGlobal(value)) return `the global ${quote(`${value.module}.${value.name}`)}`;
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}

function hex(op: number): string {
  return op.toString(16).padStart(2, "0");
}
