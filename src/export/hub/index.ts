// Hugging Face Hub client: resolve org/name@revision into the shared huggingface_hub cache.
export { HubClient, type HubClientOptions, type ResolvedSnapshot } from "./client.js";
export { HubSettings, type HubSettingsInit, defaultCacheDir } from "./settings.js";
