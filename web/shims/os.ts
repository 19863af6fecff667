// node:os for the browser build: no host name, and no home folder (the Hub cache is never used).
export function hostname(): string {
  return "browser";
}

export function homedir(): string {
  return "/";
}
