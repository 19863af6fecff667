// One FP32 export in a fresh process: prints {wallMs, maxRssBytes} as JSON on stdout.
import { EmbeddingService, silentLogger } from "../dist/index.js";

const [source, output] = process.argv.slice(2);
const start = performance.now();
await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(output!, { quantized: false });
const wallMs = performance.now() - start;
process.stdout.write(`${JSON.stringify({ wallMs, maxRssBytes: process.resourceUsage().maxRSS * 1024 })}\n`);
