// One export in a fresh process, as a user's process runs it (plain environment, nothing
// warmed up). The bench forks this module once per export run; it reports the export call's
// wall time and the process's peak RSS, then exits.
import type { Logger } from "../common/log.js";
import { EmbeddingService, type ExportOptions } from "../export/service.js";
import { errorMessage } from "../common/messages.js";

export interface ProbeRequest {
  modelId: string;
  /** The model's local folder (a Hub id is resolved once by the bench, not timed per run). */
  dir: string;
  output: string;
  options: ExportOptions;
}

export type ProbeReply =
  | {
      ok: true;
      /** exportOnnxModel, from call to return. */
      wallMs: number;
      /** Peak RSS of this process over its whole life (node and modules included). */
      maxRssBytes: number;
      /** RSS when the export started: node, the modules and nothing else. */
      baselineRssBytes: number;
      artifact: string;
      /** What the export logged (verification results, fallback warnings). */
      log: string[];
    }
  | { ok: false; error: string };

process.once("message", (request: ProbeRequest) => {
  exportOnce(request).then(
    (reply) => process.send!(reply, () => process.disconnect()),
    (error: unknown) => process.send!({ ok: false, error: errorMessage(error) } satisfies ProbeReply, () => process.disconnect()),
  );
});

async function exportOnce(request: ProbeRequest): Promise<ProbeReply> {
  const log: string[] = [];
  const logger: Logger = { info: (m) => log.push(m), warn: (m) => log.push(`warning: ${m}`) };
  const service = new EmbeddingService(request.modelId, { logger, resolver: { resolve: async () => request.dir } });
  const baselineRssBytes = process.memoryUsage().rss;
  const started = performance.now();
  const artifact = await service.exportOnnxModel(request.output, request.options);
  const wallMs = performance.now() - started;
  return { ok: true, wallMs, maxRssBytes: process.resourceUsage().maxRSS * 1024, baselineRssBytes, artifact, log };
}
