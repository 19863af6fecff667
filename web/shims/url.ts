// node:url for the browser build: file URLs name paths of the in-memory file system; the
// bundle's own URL (http:) names the path it would have there.
export function fileURLToPath(url: string | URL): string {
  return decodeURIComponent(new URL(url).pathname);
}

export function pathToFileURL(path: string): URL {
  return new URL(`file://${encodeURI(path)}`);
}
