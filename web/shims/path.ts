// node:path for the browser build: POSIX paths in the in-memory file system (fs.ts), whose
// working folder is "/".
export const sep = "/";

export function isAbsolute(path: string): boolean {
  return path.startsWith("/");
}

function normalized(path: string): string {
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return `/${parts.join("/")}`;
}

export function resolve(...paths: string[]): string {
  let path = "/";
  for (const next of paths) path = isAbsolute(next) ? next : `${path}/${next}`;
  return normalized(path);
}

export function join(...paths: string[]): string {
  const joined = paths.filter((p) => p !== "").join("/");
  if (joined === "") return ".";
  const absolute = normalized(joined);
  return isAbsolute(joined) ? absolute : absolute.slice(1) || ".";
}

export function dirname(path: string): string {
  const absolute = isAbsolute(path);
  const trimmed = path.replace(/\/+$/, "");
  const at = trimmed.lastIndexOf("/");
  if (at < 0) return ".";
  return at === 0 ? "/" : trimmed.slice(0, at) || (absolute ? "/" : ".");
}

export function basename(path: string, extension?: string): string {
  const base = path.replace(/\/+$/, "").split("/").pop() ?? "";
  return extension && base.endsWith(extension) && base !== extension ? base.slice(0, -extension.length) : base;
}

export function extname(path: string): string {
  const base = basename(path);
  const dot = base.lastIndexOf(".");
  return dot <= 0 ? "" : base.slice(dot);
}

export function relative(from: string, to: string): string {
  const a = resolve(from).split("/").filter(Boolean);
  const b = resolve(to).split("/").filter(Boolean);
  let common = 0;
  while (common < a.length && common < b.length && a[common] === b[common]) common++;
  return [...Array<string>(a.length - common).fill(".."), ...b.slice(common)].join("/");
}

export default { sep, isAbsolute, resolve, join, dirname, basename, extname, relative };
