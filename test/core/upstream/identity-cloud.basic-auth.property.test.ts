import { basicAuthorization } from '@tvs/core/upstream/identity-cloud';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

/** How an RFC 6749 §2.3.1 server decodes the header: split on the first ':', then form-decode each part. */
function decodeBasic(header: string): { id: string; secret: string } {
  const pair = Buffer.from(header.replace(/^Basic /, ''), 'base64').toString('utf8');
  const colon = pair.indexOf(':');
  const formDecode = (part: string) => decodeURIComponent(part.replace(/\+/g, ' '));
  return { id: formDecode(pair.slice(0, colon)), secret: formDecode(pair.slice(colon + 1)) };
}

describe('basicAuthorization', () => {
  it('round-trips any client id and secret through form-encoding (RFC 6749 §2.3.1)', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, unit: 'grapheme' }),
        fc.string({ minLength: 1, unit: 'grapheme' }),
        (id, secret) => {
          expect(decodeBasic(basicAuthorization({ clientId: id, clientSecret: secret }))).toEqual({
            id,
            secret,
          });
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it("escapes the characters form-encoding escapes and encodeURIComponent does not: ! ' ( ) *", () => {
    const header = basicAuthorization({ clientId: "a!'()*", clientSecret: 'b c' });
    expect(Buffer.from(header.slice(6), 'base64').toString()).toBe('a%21%27%28%29%2A:b+c');
  });
});
