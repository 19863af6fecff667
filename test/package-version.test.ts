import { readFileSync } from "node:fs";
import { expect, test } from "vitest";
import { PACKAGE_VERSION } from "../src/export/version.js";

test("PACKAGE_VERSION is package.json's version", () => {
  const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  expect(PACKAGE_VERSION).toBe(version);
});
