/**
 * This package's version, as package.json states it (test/package-version.test.ts keeps the two
 * equal). A constant rather than a read of package.json: a bundled or browser build has no
 * package.json beside its code.
 */
export const PACKAGE_VERSION = "0.1.0";
