// The portable SHA-256 gives node:crypto's digests, however the bytes are split into updates.
import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Sha256 } from "../src/common/sha256.js";

describe("Sha256", () => {
  it("digests what node:crypto digests, for any bytes in any pieces", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), (pieces) => {
        const hash = new Sha256();
        const reference = createHash("sha256");
        for (const piece of pieces) {
          hash.update(piece);
          reference.update(piece);
        }
        expect(hash.digestHex()).toBe(reference.digest("hex"));
      }),
      { numRuns: 300 },
    );
  });

  it("gives the FIPS 180-4 test vectors and takes nothing after its digest", () => {
    const ascii = (text: string) => new TextEncoder().encode(text);
    expect(new Sha256().digestHex()).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(new Sha256().update(ascii("abc")).digestHex()).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const hash = new Sha256().update(ascii("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"));
    expect(hash.digestHex()).toBe("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    expect(() => hash.update(ascii("more"))).toThrow(/after digest/);
  });
});
