import { createRequire } from "node:module";

/** This package's version (src/export and dist/export are both two levels below the root). */
export const PACKAGE_VERSION: string = (createRequire(import.meta.url)("../../package.json") as { version: string }).version;
