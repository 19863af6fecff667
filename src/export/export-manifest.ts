// The manifest an export writes last into its staging folder (artifact/manifest.ts): the staged
// files are exactly the files of this export, so the manifest lists those and nothing that was
// in the output folder before; publishing moves it into place after every file it names.
import { relative } from "node:path";
import { type ManifestSource, writeManifest } from "../artifact/manifest.js";
import type { ModelResolver } from "./model-source.js";
import { PACKAGE_VERSION } from "./version.js";
import type { ExportWorkspace } from "./workspace.js";

/** Writes the manifest of the export staged in `workspace`, whose model is `artifact` (a staged path). */
export async function writeExportManifest(
  workspace: ExportWorkspace,
  artifact: string,
  source: ManifestSource,
  settings: Record<string, unknown>,
): Promise<void> {
  await writeManifest(
    workspace.dir,
    {
      files: workspace.files(),
      model: relative(workspace.dir, artifact),
      source,
      settings,
      producer: `@jazzmine/embedding ${PACKAGE_VERSION}`,
    },
    workspace.hashes,
  );
}

/** The model id as given, with the Hub revision and commit when a Hub client resolved it. */
export function manifestSource(modelId: string, resolver: ModelResolver): ManifestSource {
  const snapshot = resolver.snapshotOf?.(modelId);
  return snapshot ? { model: modelId, revision: snapshot.revision, commit: snapshot.commit } : { model: modelId };
}
