// The graph builder: random graphs built with it are valid ONNX, survive encoding, and compute
// in onnxruntime what the same expression computes in TypeScript.
import fc from "fast-check";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { GraphBuilder, type Value } from "../src/graph/builder.js";
import { DataType, type Model } from "../src/graph/ir.js";
import { Ops } from "../src/graph/ops.js";
import { decodeModel } from "../src/graph/onnx-reader.js";
import { encodeModel } from "../src/graph/onnx-writer.js";
import { GraphValidationError, validateModel } from "../src/graph/validate.js";

const WIDTH = 3;

/** A random expression over two inputs [batch, WIDTH]: a list of steps, each reading earlier values. */
type Step =
  | { op: "add" | "sub" | "mul"; a: number; b: number }
  | { op: "tanh" | "relu" | "neg" | "sigmoid"; a: number }
  | { op: "matmul"; a: number; weights: number[] }
  | { op: "layernorm"; a: number; eps: number };

const stepArb = (index: number): fc.Arbitrary<Step> => {
  const earlier = fc.nat({ max: index + 1 }); // inputs are values 0 and 1
  const small = fc.double({ min: -1, max: 1, noNaN: true });
  return fc.oneof(
    fc.record({ op: fc.constantFrom("add" as const, "sub" as const, "mul" as const), a: earlier, b: earlier }),
    fc.record({ op: fc.constantFrom("tanh" as const, "relu" as const, "neg" as const, "sigmoid" as const), a: earlier }),
    fc.record({
      op: fc.constant("matmul" as const),
      a: earlier,
      weights: fc.array(small, { minLength: WIDTH * WIDTH, maxLength: WIDTH * WIDTH }),
    }),
    fc.record({ op: fc.constant("layernorm" as const), a: earlier, eps: fc.double({ min: 1e-6, max: 1e-2, noNaN: true }) }),
  );
};

const programArb = fc.integer({ min: 1, max: 8 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => stepArb(i))));

function buildProgram(steps: Step[], opset: number): Model {
  const g = new GraphBuilder(opset, "prop");
  const ops = new Ops(g);
  const values: Value[] = [g.input("x", DataType.FLOAT, ["batch", WIDTH]), g.input("y", DataType.FLOAT, ["batch", WIDTH])];
  steps.forEach((step, i) =>
    g.scope(`step${i}`, () => {
      const a = values[step.a]!;
      switch (step.op) {
        case "add":
        case "sub":
        case "mul":
          return values.push(ops[step.op](a, values[step.b]!));
        case "matmul":
          return values.push(ops.matMul(a, g.constFloat(step.weights, [WIDTH, WIDTH], "w")));
        case "layernorm":
          return values.push(ops.layerNorm(a, g.constFloat([1, 2, 0.5]), g.constFloat([0, 0.1, -0.1]), step.eps));
        default:
          return values.push(ops[step.op](a));
      }
    }),
  );
  g.output(values.at(-1)!, "out", DataType.FLOAT, ["batch", WIDTH]);
  return g.build({ test: "yes" }, "0");
}

function evaluate(steps: Step[], x: number[][], y: number[][]): number[][] {
  const values = [x, y];
  const map = (m: number[][], f: (v: number) => number) => m.map((row) => row.map(f));
  for (const step of steps) {
    const a = values[step.a]!;
    const b = "b" in step ? values[step.b]! : a;
    const zip = (f: (p: number, q: number) => number) => a.map((row, r) => row.map((v, c) => f(v, b[r]![c]!)));
    const result = {
      add: () => zip((p, q) => p + q),
      sub: () => zip((p, q) => p - q),
      mul: () => zip((p, q) => p * q),
      tanh: () => map(a, Math.tanh),
      relu: () => map(a, (v) => Math.max(0, v)),
      neg: () => map(a, (v) => -v),
      sigmoid: () => map(a, (v) => 1 / (1 + Math.exp(-v))),
      matmul: () =>
        a.map((row) =>
          Array.from({ length: WIDTH }, (_, j) =>
            row.reduce((s, v, k) => s + v * (step as { weights: number[] }).weights[k * WIDTH + j]!, 0),
          ),
        ),
      layernorm: () =>
        a.map((row) => {
          const mean = row.reduce((s, v) => s + v, 0) / WIDTH;
          const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / WIDTH;
          return row.map(
            (v, c) => ((v - mean) / Math.sqrt(variance + (step as { eps: number }).eps)) * [1, 2, 0.5][c]! + [0, 0.1, -0.1][c]!,
          );
        }),
    }[step.op]();
    values.push(result);
  }
  return values.at(-1)!;
}

describe("GraphBuilder property tests", () => {
  it("random programs: valid, round-trip through protobuf, and compute what TypeScript computes", async () => {
    const inputs = fc.array(fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: WIDTH, maxLength: WIDTH }), {
      minLength: 1,
      maxLength: 3,
    });
    await fc.assert(
      fc.asyncProperty(programArb, inputs, inputs, fc.constantFrom(13, 17, 21), async (steps, xs, ys, opset) => {
        const rows = Math.min(xs.length, ys.length);
        const [x, y] = [xs.slice(0, rows), ys.slice(0, rows)];
        const model = buildProgram(steps, opset);
        validateModel(model);
        const bytes = encodeModel(model);
        expect(encodeModel(decodeModel(bytes))).toEqual(bytes);
        const session = await ort.InferenceSession.create(bytes);
        const feed = (m: number[][]) => new ort.Tensor("float32", Float32Array.from(m.flat()), [rows, WIDTH]);
        const { out } = await session.run({ x: feed(x), y: feed(y) });
        await session.release();
        const expected = evaluate(steps, x, y).flat();
        const actual = out!.data as Float32Array;
        expected.forEach((e, i) => expect(Math.abs(actual[i]! - e)).toBeLessThan(1e-3 * Math.max(1, Math.abs(e))));
      }),
      { numRuns: 40 },
    );
  });

  it("scoped names stay unique however often a scope repeats", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom("layer", "attention", "ffn"), { minLength: 1, maxLength: 30 }), (scopes) => {
        const g = new GraphBuilder(17);
        const ops = new Ops(g);
        let x = g.input("x", DataType.FLOAT, ["batch", 2]);
        for (const s of scopes) x = g.scope(s, () => ops.relu(ops.add(x, g.constFloat([1, 2]))));
        g.output(x, "out", DataType.FLOAT, ["batch", 2]);
        const model = g.build({}, "0");
        validateModel(model);
        const names = [
          ...model.graph.nodes.map((n) => n.name),
          ...model.graph.nodes.flatMap((n) => n.outputs),
          ...model.graph.initializers.map((i) => i.name),
        ];
        expect(new Set(names).size).toBe(names.length);
      }),
    );
  });
});

describe("validateModel rejects what the ONNX checker would", () => {
  const base = () => {
    const g = new GraphBuilder(17);
    const x = g.input("x", DataType.FLOAT, ["batch", 2]);
    g.output(new Ops(g).relu(x), "out", DataType.FLOAT, ["batch", 2]);
    return g.build({}, "0");
  };

  it("accepts the base model", () => expect(() => validateModel(base())).not.toThrow());

  const broken: Array<[string, (m: Model) => void, RegExp]> = [
    ["a value read before it is defined", (m) => m.graph.nodes[0]!.inputs.push("nowhere"), /reads "nowhere" before it is defined/],
    ["a name defined twice", (m) => m.graph.nodes.push({ ...m.graph.nodes[0]!, name: "again" }), /defined twice/],
    [
      "an output never computed",
      (m) => m.graph.outputs.push({ name: "ghost", elemType: DataType.FLOAT, shape: [1] }),
      /"ghost" is never computed/,
    ],
    ["an input without shape", (m) => delete m.graph.inputs[0]!.shape, /graph input "x" has no shape/],
    ["a domain without opset import", (m) => (m.graph.nodes[0]!.domain = "com.microsoft"), /without an opset import/],
    ["an IR version that does not match the opset", (m) => (m.irVersion = 7), /IR version 7 does not match opset 17/],
    [
      "an initializer whose bytes do not match its dims",
      (m) =>
        m.graph.initializers.push({ name: "w", dataType: DataType.FLOAT, dims: [3], data: { kind: "bytes", bytes: new Uint8Array(8) } }),
      /initializer "w" holds 8 bytes, dims need 12/,
    ],
  ];
  for (const [what, breakIt, message] of broken) {
    it(what, () => {
      const model = base();
      breakIt(model);
      expect(() => validateModel(model)).toThrow(GraphValidationError);
      expect(() => validateModel(model)).toThrow(message);
    });
  }

  it("the builder refuses initializers whose bytes do not match their dims, and duplicate names", () => {
    const g = new GraphBuilder(17);
    expect(() => g.initializer("w", DataType.FLOAT, [2, 2], { kind: "bytes", bytes: new Uint8Array(4) })).toThrow(
      /4 bytes for dims \[2,2\] \(expected 16\)/,
    );
    g.input("x", DataType.FLOAT, [1]);
    expect(() => g.input("x", DataType.FLOAT, [1])).toThrow(/"x" is used twice/);
  });
});
