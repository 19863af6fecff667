// Hugging Face Hub client: resolve org/name@revision into the shared huggingface_hub cache.
export { HubClient, type HubClientOptions, type ResolvedSnapshot } from "./client.js";
export { HubSettings, type HubSettingsInit, DEFAULT_ENDPOINT, DEFAULT_REVISION, defaultCacheDir } from "./settings.js";
export { RepoCache } from "./cache.js";
export { planFiles, type FilePlan } from "./plan.js";
