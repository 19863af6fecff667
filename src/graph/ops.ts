// Standard ONNX operators as typed functions over a GraphBuilder. Opset differences (axes as
// attribute or input, LayerNormalization availability) are handled here, once.
import { attr, type GraphBuilder, type Value } from "./builder.js";
import { DataType } from "./ir.js";

export class Ops {
  constructor(readonly g: GraphBuilder) {}

  get opset(): number {
    return this.g.opset;
  }

  add = (a: Value, b: Value): Value => this.g.op("Add", [a, b]);
  sub = (a: Value, b: Value): Value => this.g.op("Sub", [a, b]);
  mul = (a: Value, b: Value): Value => this.g.op("Mul", [a, b]);
  div = (a: Value, b: Value): Value => this.g.op("Div", [a, b]);
  matMul = (a: Value, b: Value): Value => this.g.op("MatMul", [a, b]);
  tanh = (x: Value): Value => this.g.op("Tanh", [x]);
  erf = (x: Value): Value => this.g.op("Erf", [x]);
  relu = (x: Value): Value => this.g.op("Relu", [x]);
  sigmoid = (x: Value): Value => this.g.op("Sigmoid", [x]);
  sqrt = (x: Value): Value => this.g.op("Sqrt", [x]);
  abs = (x: Value): Value => this.g.op("Abs", [x]);
  cos = (x: Value): Value => this.g.op("Cos", [x]);
  sin = (x: Value): Value => this.g.op("Sin", [x]);
  /** Elementwise minimum (broadcasting). */
  min = (a: Value, b: Value): Value => this.g.op("Min", [a, b]);
  /** Elementwise maximum (broadcasting). */
  max = (a: Value, b: Value): Value => this.g.op("Max", [a, b]);
  /** condition ? x : y, elementwise (condition BOOL, broadcasting). */
  where = (condition: Value, x: Value, y: Value): Value => this.g.op("Where", [condition, x, y]);
  neg = (x: Value): Value => this.g.op("Neg", [x]);
  shape = (x: Value): Value => this.g.op("Shape", [x]);
  identity = (x: Value): Value => this.g.op("Identity", [x]);
  equal = (a: Value, b: Value): Value => this.g.op("Equal", [a, b]);
  greater = (a: Value, b: Value): Value => this.g.op("Greater", [a, b]);
  not = (x: Value): Value => this.g.op("Not", [x]);
  /** Running sum along `axis` (an int64 scalar value). */
  cumSum = (x: Value, axis: Value): Value => this.g.op("CumSum", [x, axis]);
  /** [start, limit) by delta; all three scalars of one type. */
  range = (start: Value, limit: Value, delta: Value): Value => this.g.op("Range", [start, limit, delta]);
  /** Clamps to [min, max] (scalars of x's type). */
  clip = (x: Value, min: Value, max: Value): Value => this.g.op("Clip", [x, min, max]);

  /** Broadcasts x to `shape` (int64 [rank]). */
  expand = (x: Value, shape: Value): Value => this.g.op("Expand", [x, shape]);
  /** Constant padding: `pads` is int64 [2·rank] (all begins, then all ends), `value` a scalar of x's type (default 0). */
  pad = (x: Value, pads: Value, value?: Value): Value => this.g.op("Pad", value ? [x, pads, value] : [x, pads]);

  scalar = (value: number, hint = "scalar"): Value => this.g.constFloat([value], [], hint);

  cast = (x: Value, to: DataType): Value => this.g.op("Cast", [x], { to: attr.int(to) });

  softmax = (x: Value, axis = -1): Value => this.g.op("Softmax", [x], { axis: attr.int(axis) });

  gather = (data: Value, indices: Value, axis = 0): Value => this.g.op("Gather", [data, indices], { axis: attr.int(axis) });

  /** Slices of `data` at `indices` (last axis: coordinates), the first `batchDims` axes shared (GatherND). */
  gatherND = (data: Value, indices: Value, batchDims = 0): Value =>
    this.g.op("GatherND", [data, indices], batchDims ? { batch_dims: attr.int(batchDims) } : {});

  transpose = (x: Value, perm: number[]): Value => this.g.op("Transpose", [x], { perm: attr.ints(perm) });

  /** Reshape to `dims`, where 0 copies the input dimension and -1 is inferred. */
  reshape = (x: Value, dims: number[]): Value => this.g.op("Reshape", [x, this.g.constInt64(dims, [dims.length], "shape")]);

  concat = (xs: Value[], axis: number): Value => this.g.op("Concat", xs, { axis: attr.int(axis) });

  unsqueeze = (x: Value, axes: number[]): Value => this.g.op("Unsqueeze", [x, this.g.constInt64(axes, [axes.length], "axes")]);

  squeeze = (x: Value, axes: number[]): Value => this.g.op("Squeeze", [x, this.g.constInt64(axes, [axes.length], "axes")]);

  split = (x: Value, sizes: number[], axis: number): Value[] =>
    this.g.node("Split", [x, this.g.constInt64(sizes, [sizes.length], "split")], { axis: attr.int(axis) }, { outputs: sizes.length });

  /** Slice along `axes`; `ends` may be a runtime value (e.g. the sequence length). */
  slice = (x: Value, starts: Value, ends: Value, axes: Value): Value => this.g.op("Slice", [x, starts, ends, axes]);

  reduceMean = (x: Value, axes: number[], keepDims = true): Value => this.reduce("ReduceMean", x, axes, keepDims);
  reduceSum = (x: Value, axes: number[], keepDims = true): Value => this.reduce("ReduceSum", x, axes, keepDims);
  reduceMax = (x: Value, axes: number[], keepDims = true): Value => this.reduce("ReduceMax", x, axes, keepDims);

  /** Size of dimension `axis` of `x` as an int64 tensor of shape [1]. */
  dim = (x: Value, axis: number): Value => this.gather(this.shape(x), this.g.constInt64([axis], [1], "axis"));

  /** LayerNormalization over the last axis; decomposed into standard ops below opset 17. */
  layerNorm = (x: Value, gamma: Value, beta: Value, epsilon: number): Value => {
    if (this.opset >= 17) {
      return this.g.op("LayerNormalization", [x, gamma, beta], { axis: attr.int(-1), epsilon: attr.float(epsilon) });
    }
    const centered = this.sub(x, this.reduceMean(x, [-1]));
    const variance = this.reduceMean(this.mul(centered, centered), [-1]);
    const normalized = this.div(centered, this.sqrt(this.add(variance, this.scalar(epsilon, "epsilon"))));
    return this.add(this.mul(normalized, gamma), beta);
  };

  /** RMSNorm over the last axis in standard ops: gamma · x / √(mean(x²) + ε) (gamma last: the per-channel Mul quantization folds into). */
  rmsNorm = (x: Value, gamma: Value, epsilon: number): Value => {
    const meanSquare = this.reduceMean(this.mul(x, x), [-1]);
    return this.mul(this.div(x, this.sqrt(this.add(meanSquare, this.scalar(epsilon, "epsilon")))), gamma);
  };

  private reduce(opType: string, x: Value, axes: number[], keepDims: boolean): Value {
    const keepdims = attr.int(keepDims ? 1 : 0);
    // ReduceSum takes axes as an input from opset 13, the other reductions from opset 18.
    const axesAsInput = opType === "ReduceSum" ? this.opset >= 13 : this.opset >= 18;
    if (axesAsInput) return this.g.op(opType, [x, this.g.constInt64(axes, [axes.length], "axes")], { keepdims });
    return this.g.op(opType, [x], { axes: attr.ints(axes), keepdims });
  }
}
