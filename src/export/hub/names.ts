// The Hub's naming rules, checked before a repo id, a revision, a repo file name or an ETag
// becomes part of a URL or a cache path: a hostile or mistyped name (`--revision ../../x`, a
// shard named `../../.bashrc` in an index, an ETag of "..") is refused with one line, never
// joined into a path. Repo ids follow huggingface_hub's validate_repo_id (restricted to the
// org/name form this tool takes), revisions git's check-ref-format (a commit sha passes too),
// file names are relative paths inside the repository.
import { ExportError } from "../../common/errors.js";
import { quote } from "../../common/messages.js";

/** Why `id` is not an `org/name` Hub repo id, or undefined when it is one. */
export function repoIdProblem(id: string): string | undefined {
  if (id.length > 96) return "is longer than 96 characters";
  const parts = id.split("/");
  if (parts.length !== 2) return "is not of the form org/name";
  if (!parts.every((part) => /^[A-Za-z0-9_](?:[\w.-]*[A-Za-z0-9_])?$/.test(part))) {
    return "may hold only letters, digits, '-', '_' and '.', with a letter or digit first and last in org and name";
  }
  if (id.includes("--") || id.includes("..")) return "may not contain '--' or '..'";
  if (id.endsWith(".git")) return "may not end with .git";
  return undefined;
}

/** Why `revision` is not a branch, tag or commit sha the Hub can have, or undefined. */
export function revisionProblem(revision: string): string | undefined {
  if (revision.length === 0) return "is empty";
  if (revision.length > 255) return "is longer than 255 characters";
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(revision)) return "may not contain spaces, control characters or any of ~ ^ : ? * [ \\";
  if (revision.includes("..") || revision.includes("@{") || revision === "@") return "may not contain '..' or '@{'";
  const parts = revision.split("/");
  if (parts.some((part) => part === "")) return "may not start or end with '/' or contain '//'";
  if (parts.some((part) => part.startsWith(".") || part.endsWith(".lock")))
    return "may not have a part that starts with '.' or ends with '.lock'";
  if (revision.endsWith(".")) return "may not end with '.'";
  return undefined;
}

/** Why `path` is not a file path inside a repository (relative, no empty, '.' or '..' parts), or undefined. */
export function repoFileProblem(path: string): string | undefined {
  if (path.length === 0) return "is empty";
  if (path.length > 1000) return "is longer than 1000 characters";
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f\\]/.test(path)) return "may not contain control characters or backslashes";
  if (path.split("/").some((part) => part === "" || part === "." || part === ".."))
    return "must be a relative path without empty, '.' or '..' parts";
  return undefined;
}

/** The one-line message for a revision the Hub cannot have, or undefined for a valid one (the CLI makes it a usage error). */
export function invalidRevisionMessage(revision: string): string | undefined {
  const problem = revisionProblem(revision);
  return (
    problem &&
    `revision ${quote(revision)} is not a branch, tag or commit sha the Hub allows: it ${problem}; pass one of the repository's (--revision)`
  );
}

export function checkRepoId(id: string): string {
  const problem = repoIdProblem(id);
  if (problem) throw new ExportError(`${quote(id)} is not a Hugging Face Hub id: it ${problem} (for example BAAI/bge-small-en-v1.5)`);
  return id;
}

export function checkRevision(revision: string): string {
  const message = invalidRevisionMessage(revision);
  if (message) throw new ExportError(message);
  return revision;
}

/** `path`, a repo file name that came from `where` (the Hub's file list, an index, modules.json…). */
export function checkRepoFile(path: string, where: string): string {
  const problem = repoFileProblem(path);
  if (problem)
    throw new ExportError(
      `${where} names the file ${quote(path)}, which ${problem}; refusing to use it (is HF_ENDPOINT a Hugging Face Hub?)`,
    );
  return path;
}

/** An ETag names a blob file: word characters, '-' and '.', never starting with '.'. */
export function checkEtag(etag: string, url: string): string {
  if (!/^[\w-][\w.-]{0,199}$/.test(etag)) {
    throw new ExportError(`${url} sent the ETag ${quote(etag)}, which cannot name a cache file; is HF_ENDPOINT a Hugging Face Hub?`);
  }
  return etag;
}
