// node:crypto for the browser build: createHash("sha256") over the core's own SHA-256
// (src/common/sha256.ts), synchronous as node's is; Web Crypto's digest is asynchronous.
import { Sha256 } from "../../src/common/sha256.js";

class NodeLikeSha256 {
  private readonly hash = new Sha256();

  update(data: Uint8Array | string): this {
    this.hash.update(typeof data === "string" ? new TextEncoder().encode(data) : data);
    return this;
  }

  digest(encoding: "hex"): string {
    if (encoding !== "hex") throw new Error(`digest encoding ${String(encoding)} is not available in the browser build`);
    return this.hash.digestHex();
  }
}

export function createHash(algorithm: string): NodeLikeSha256 {
  if (algorithm !== "sha256") throw new Error(`hash ${algorithm} is not available in the browser build`);
  return new NodeLikeSha256();
}
