// node:path for the browser build: POSIX paths in the in-memory file system (fs.ts), whose
// working folder is "/".
export const sep = "/";

export function isAbsolute(path: string): boolean {
  return path.startsWith("/");
}

/** `path` without ".", "..", or repeated and trailing slashes; a relative path keeps its leading "..". */
function normalized(path: string): string {
  const absolute = isAbsolute(path);
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part !== "..") parts.push(part);
    else if (parts.length > 0 && parts.at(-1) !== "..") parts.pop();
    else if (!absolute) parts.push(part);
  }
  return absolute ? `/${parts.join("/")}` : parts.join("/") || ".";
}

export function resolve(...paths: string[]): string {
  let path = "/";
  for (const next of paths) path = isAbsolute(next) ? next : `${path}/${next}`;
  return normalized(path);
}

export function join(...paths: string[]): string {
  const joined = paths.filter((p) => p !== "").join("/");
  if (joined === "") return ".";
  const path = normalized(joined);
  return joined.endsWith("/") && path !== "/" ? `${path}/` : path; // node keeps a trailing slash
}

// dirname, basename and extname follow node's own POSIX algorithms (lib/path.js).
const SLASH = 47;
const DOT = 46;

export function dirname(path: string): string {
  if (path.length === 0) return ".";
  const hasRoot = path.charCodeAt(0) === SLASH;
  let end = -1;
  let matchedSlash = true;
  for (let i = path.length - 1; i >= 1; --i) {
    if (path.charCodeAt(i) === SLASH) {
      if (!matchedSlash) {
        end = i;
        break;
      }
    } else matchedSlash = false;
  }
  if (end === -1) return hasRoot ? "/" : ".";
  if (hasRoot && end === 1) return "//";
  return path.slice(0, end);
}

export function basename(path: string, extension?: string): string {
  let start = 0;
  let end = -1;
  let matchedSlash = true;
  for (let i = path.length - 1; i >= 0; --i) {
    if (path.charCodeAt(i) === SLASH) {
      if (!matchedSlash) {
        start = i + 1;
        break;
      }
    } else if (end === -1) {
      matchedSlash = false;
      end = i + 1;
    }
  }
  const base = end === -1 ? "" : path.slice(start, end);
  return extension && base.endsWith(extension) && base !== extension ? base.slice(0, -extension.length) : base;
}

export function extname(path: string): string {
  let startDot = -1;
  let startPart = 0;
  let end = -1;
  let matchedSlash = true;
  let preDotState = 0;
  for (let i = path.length - 1; i >= 0; --i) {
    const code = path.charCodeAt(i);
    if (code === SLASH) {
      if (!matchedSlash) {
        startPart = i + 1;
        break;
      }
      continue;
    }
    if (end === -1) {
      matchedSlash = false;
      end = i + 1;
    }
    if (code === DOT) {
      if (startDot === -1) startDot = i;
      else if (preDotState !== 1) preDotState = 1;
    } else if (startDot !== -1) preDotState = -1;
  }
  if (startDot === -1 || end === -1 || preDotState === 0 || (preDotState === 1 && startDot === end - 1 && startDot === startPart + 1))
    return "";
  return path.slice(startDot, end);
}

export function relative(from: string, to: string): string {
  const a = resolve(from).split("/").filter(Boolean);
  const b = resolve(to).split("/").filter(Boolean);
  let common = 0;
  while (common < a.length && common < b.length && a[common] === b[common]) common++;
  return [...Array<string>(a.length - common).fill(".."), ...b.slice(common)].join("/");
}

export default { sep, isAbsolute, resolve, join, dirname, basename, extname, relative };
