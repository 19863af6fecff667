// Writes synthetic BERT exports (opsets 13..17, both variants, with and without token types)
// into the folder given as argument, for scripts/onnx-check.sh.
import { join } from "node:path";
import { loadEncoder } from "../src/arch/encoder-folder.js";
import { buildEncoderGraph } from "../src/heads/graph.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { writeModelFolder } from "../src/fixtures/model-folder.js";
import { writeModel } from "../src/graph/onnx-file.js";

const out = process.argv[2]!;
const encoder = loadEncoder(writeModelFolder(join(out, "source"), syntheticBert({ seed: 1 })));
for (const opset of [13, 15, 17]) {
  for (const variant of ["primary", "portable"] as const) {
    for (const tokenTypeIds of [false, true]) {
      const model = buildEncoderGraph(encoder, { opset, variant, tokenTypeIds });
      await writeModel(model, join(out, `bert_${variant}_opset${opset}${tokenTypeIds ? "_tt" : ""}.onnx`));
    }
  }
}
encoder.close();
