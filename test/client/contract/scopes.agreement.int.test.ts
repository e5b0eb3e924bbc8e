/**
 * The client and the service agree on every scope string, whether the grammar accepts it or not — shown
 * through the real TypeScript client and a real `tvs serve` (in process, embedded mode) in front of the
 * Identity Cloud simulator, not by comparing a function with itself: the service's canonical form of a
 * string is the `scope` of its HTTP answer to a request the client's cache cannot touch.
 *
 * The bug this guards: the client once canonicalized scope strings on any whitespace while the service
 * splits on spaces only, so `"a\tb"` was served from the cache entry of `"a b"`.
 */

import {
  canonicalScope,
  createTokenClient,
  processTokenAnswer,
  sendSigned,
  TokenServiceError,
  type VendedToken,
} from '@tvs/client';
import { MAX_SCOPE_STRING_LENGTH } from '@tvs/client/contract';
import { type LocalServer, startLocalServer } from '@tvs/local/server';
import { type IdentityCloudSimulator, startIdentityCloudSimulator } from '@tvs/simulator/identity-cloud';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNBOUNDED_MINTS } from '../../support/mint-bounds';
import { ORDERS, tempDir, writeJson } from '../../support/processes';

const CLIENT = 'everything-us';
const SIMULATED_CLIENT = {
  clientId: 'agreementclient00000000000000001',
  clientSecret: 'agreement-secret-for-the-simulator',
  allowedScopes: ['*:**'],
};

/**
 * Valid scopes. Few on purpose: every set of them is one canonical form and one upstream mint, so the
 * run mints at most 15 tokens however many strings it tries. Their order differs from their sorted
 * order (`*` sorts before `.`, capitals before lower case).
 */
const VALID_SCOPES = ['.:a', '*:a/**', '.:B-~_.x/*', '*:a'] as const;

/** Scopes that do not parse: bad access, empty or malformed path, a `:` too many. */
const INVALID_SCOPES = [
  'x:a',
  ':a',
  '*:',
  '*',
  '**:a',
  '*:/a',
  '*:a/',
  '*:a//b',
  '*:a/../b',
  '*:***',
  '*:a:b',
] as const;

/** Characters no scope may hold, for insertion anywhere in a valid one. */
const INVALID_CHARACTERS = [
  '%',
  '?',
  '#',
  '"',
  '\\',
  '[',
  '{',
  ',',
  '+',
  'é',
  '\u0000',
  '\u007f',
  '😀',
  '\ud800',
];

/** Whitespace that is not the separator: ASCII controls, and Unicode spaces JavaScript's `\s` matches or not. */
const OTHER_WHITESPACE = [
  '\t',
  '\n',
  '\r',
  '\v',
  '\f',
  '\u0085',
  '\u00a0',
  '\u1680',
  '\u180e',
  '\u2000',
  '\u2007',
  '\u200a',
  '\u200b',
  '\u2028',
  '\u2029',
  '\u202f',
  '\u205f',
  '\u3000',
  '\ufeff',
] as const;

const spaces = fc.integer({ min: 1, max: 3 }).map((count) => ' '.repeat(count));
const otherWhitespace = fc.constantFrom(...OTHER_WHITESPACE);

/** What stands between two scopes: mostly runs of spaces (the separator), sometimes other whitespace. */
const separator = fc.oneof(
  { weight: 4, arbitrary: spaces },
  { weight: 2, arbitrary: otherWhitespace },
  {
    weight: 1,
    arbitrary: fc.tuple(spaces, otherWhitespace).map(([run, other]) => `${run}${other} `),
  },
);

/** Before the first scope and after the last: nothing, spaces, or other whitespace. */
const edge = fc.oneof(
  { weight: 3, arbitrary: fc.constant('') },
  { weight: 2, arbitrary: spaces },
  { weight: 1, arbitrary: otherWhitespace },
);

const withInvalidCharacter = fc
  .tuple(fc.constantFrom(...VALID_SCOPES), fc.constantFrom(...INVALID_CHARACTERS), fc.nat())
  .map(([scope, character, at]) => {
    const position = at % (scope.length + 1);
    return `${scope.slice(0, position)}${character}${scope.slice(position)}`;
  });

/** One scope as a caller might write it: mostly valid. */
const piece = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...VALID_SCOPES) },
  { weight: 1, arbitrary: fc.constantFrom(...INVALID_SCOPES) },
  { weight: 1, arbitrary: withInvalidCharacter },
);

/** How a list of scopes is written out: order, duplicates, separators, leading and trailing text. */
interface Spelling {
  readonly sortKeys: readonly number[];
  readonly duplicates: readonly number[];
  readonly separators: readonly string[];
  readonly lead: string;
  readonly trail: string;
}

const MAX_PIECES = 5;
const MAX_DUPLICATES = 3;

const spelling: fc.Arbitrary<Spelling> = fc.record({
  sortKeys: fc.array(fc.nat({ max: 9 }), {
    minLength: MAX_PIECES + MAX_DUPLICATES,
    maxLength: MAX_PIECES + MAX_DUPLICATES,
  }),
  duplicates: fc.array(fc.nat({ max: MAX_PIECES - 1 }), { maxLength: MAX_DUPLICATES }),
  separators: fc.array(separator, {
    minLength: MAX_PIECES + MAX_DUPLICATES,
    maxLength: MAX_PIECES + MAX_DUPLICATES,
  }),
  lead: edge,
  trail: edge,
});

/** `pieces` written out as `how` says. */
function spell(pieces: readonly string[], how: Spelling): string {
  const all = [...pieces, ...how.duplicates.map((index) => pieces[index % pieces.length] as string)];
  const order = all
    .map((text, index) => ({ text, key: how.sortKeys[index] ?? 0, index }))
    .sort((left, right) => left.key - right.key || left.index - right.index);
  const body = order.map(({ text }, index) => (index === 0 ? text : `${how.separators[index]}${text}`));
  return `${how.lead}${body.join('')}${how.trail}`;
}

const pieces = fc.array(piece, { minLength: 1, maxLength: MAX_PIECES });
const scopeString = fc.tuple(pieces, spelling).map(([list, how]) => spell(list, how));

/** Strings at the grammar's limits: empty, blank, 32 and 33 scopes, 1024 and 1025 characters. */
const limitString = fc.constantFrom(
  '',
  '   ',
  ' \t ',
  Array(32).fill('*:a').join(' '),
  Array(33).fill('*:a').join(' '),
  `${' '.repeat(MAX_SCOPE_STRING_LENGTH - 3)}*:a`,
  `${' '.repeat(MAX_SCOPE_STRING_LENGTH - 2)}*:a`,
);

/**
 * Valid scopes separated by single spaces, and the same string with some of its spaces replaced by one
 * other whitespace character: the near miss the old client answered from the cache.
 */
const nearMiss = fc
  .tuple(
    fc.array(fc.constantFrom(...VALID_SCOPES), { minLength: 1, maxLength: 4 }),
    fc.boolean(),
    otherWhitespace,
    fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
  )
  .map(([list, padded, other, replaced]): [string, string] => {
    const spaced = padded || list.length === 1 ? ` ${list.join(' ')} ` : list.join(' ');
    let index = -1;
    // The first space is always replaced, so the two strings differ.
    const changed = spaced.replace(/ /g, () => {
      index += 1;
      return index === 0 || replaced[index % replaced.length] ? other : ' ';
    });
    return [spaced, changed];
  });

/**
 * Pairs of scope strings: near misses; the same scopes spelled two ways (the same canonical form when
 * both use only spaces); two unrelated strings; strings at the limits.
 */
const scopePair: fc.Arbitrary<[string, string]> = fc.oneof(
  { weight: 3, arbitrary: nearMiss },
  {
    weight: 3,
    arbitrary: fc
      .tuple(pieces, spelling, spelling)
      .map(([list, first, second]): [string, string] => [spell(list, first), spell(list, second)]),
  },
  { weight: 2, arbitrary: fc.tuple(scopeString, scopeString) },
  { weight: 1, arbitrary: fc.tuple(fc.oneof(scopeString, limitString), limitString) },
);

/** What the service answers for a scope string, asked directly (no client cache in between). */
type Verdict =
  | { readonly accepted: true; readonly scope: string }
  | { readonly accepted: false; readonly status: number; readonly error: string };

/** The outcome of one `getToken`. */
type Outcome =
  | { readonly ok: true; readonly token: VendedToken }
  | { readonly ok: false; readonly error: unknown };

let sim: IdentityCloudSimulator;
let server: LocalServer;
let removeDir: () => Promise<void>;

const target = () => ({
  endpoint: server.url,
  region: 'us-east-1',
  credentials: { accessKeyId: ORDERS.accessKeyId, secretAccessKey: ORDERS.secretAccessKey },
});

/** Verdicts by scope string: the service's answer to a string does not change within the run. */
const verdicts = new Map<string, Verdict>();

async function verdictOf(scope: string): Promise<Verdict> {
  const known = verdicts.get(scope);
  if (known) return known;
  const verdict = await askService(scope);
  verdicts.set(scope, verdict);
  return verdict;
}

async function askService(scope: string): Promise<Verdict> {
  const body = JSON.stringify({ client: CLIENT, scope });
  try {
    const answer = processTokenAnswer(
      await sendSigned(target(), { method: 'POST', path: '/v1/token', body }),
    );
    return { accepted: true, scope: answer.scope };
  } catch (error) {
    if (!(error instanceof TokenServiceError)) throw error;
    return { accepted: false, status: error.status, error: error.error };
  }
}

function outcomeOf(promise: Promise<VendedToken>): Promise<Outcome> {
  return promise.then(
    (token) => ({ ok: true, token }),
    (error: unknown) => ({ ok: false, error }),
  );
}

/** The client's answer for `scope` is the service's: the same canonical scope, or the same refusal. */
function expectAgreement(scope: string, verdict: Verdict, outcome: Outcome): void {
  if (verdict.accepted) {
    expect(canonicalScope(scope)).toBe(verdict.scope);
    expect(outcome.ok && outcome.token.scope).toBe(verdict.scope);
    return;
  }
  expect(canonicalScope(scope)).toBeUndefined();
  expect(outcome.ok).toBe(false);
  const error = (outcome as { error: unknown }).error;
  expect(error).toBeInstanceOf(TokenServiceError);
  expect({ status: (error as TokenServiceError).status, error: (error as TokenServiceError).error }).toEqual({
    status: verdict.status,
    error: verdict.error,
  });
  // invalid_scope, except past the length limit, which the request schema refuses as invalid_request.
  expect(verdict).toMatchObject({
    status: 400,
    error: scope.length > MAX_SCOPE_STRING_LENGTH ? 'invalid_request' : 'invalid_scope',
  });
}

beforeAll(async () => {
  sim = await startIdentityCloudSimulator({ clients: [{ ...SIMULATED_CLIENT, allowedScopes: ['*:**'] }] });
  const dir = await tempDir();
  removeDir = dir.remove;
  await writeJson(dir.path, 'secrets.json', {
    'tvs/everything-us': {
      client_id: SIMULATED_CLIENT.clientId,
      client_secret: SIMULATED_CLIENT.clientSecret,
    },
  });
  const config = {
    clients: {
      [CLIENT]: { tokenEndpoint: sim.tokenEndpoint, secretId: 'tvs/everything-us', allowedScopes: ['*:**'] },
    },
    grants: [{ principal: ORDERS.arn, client: CLIENT, scopes: ['*:**'] }],
    local: {
      secretsFile: 'secrets.json',
      region: 'us-east-1',
      callers: { [ORDERS.accessKeyId]: { secretAccessKey: ORDERS.secretAccessKey, arn: ORDERS.arn } },
    },
  };
  const silent = { info: () => {}, warn: () => {}, error: () => {} };
  // Up to 15 canonical forms are minted within seconds, more than one caller's share of a client's mints.
  server = await startLocalServer({
    config,
    configDir: dir.path,
    port: 0,
    env: {},
    log: silent,
    settings: UNBOUNDED_MINTS,
  });
});

afterAll(async () => {
  await server?.close();
  await sim?.close();
  await removeDir?.();
});

describe('scope strings, client and service', () => {
  it('agree: a cached token answers only the same canonical form, and a refused string gets the service refusal', async () => {
    const forms = new Set<string>();
    const mintsBefore = sim.tokenRequests;

    await fc.assert(
      fc.asyncProperty(scopePair, async ([first, second]) => {
        const tokens = createTokenClient({ ...target(), maxAttempts: 1 });
        const firstVerdict = await verdictOf(first);
        const secondVerdict = await verdictOf(second);

        const firstOutcome = await outcomeOf(tokens.getToken({ client: CLIENT, scope: first }));
        const secondOutcome = await outcomeOf(tokens.getToken({ client: CLIENT, scope: second }));

        expectAgreement(first, firstVerdict, firstOutcome);
        expectAgreement(second, secondVerdict, secondOutcome);
        const sameForm =
          firstVerdict.accepted && secondVerdict.accepted && firstVerdict.scope === secondVerdict.scope;
        const sameToken = firstOutcome.ok && secondOutcome.ok && secondOutcome.token === firstOutcome.token;
        expect(sameToken).toBe(sameForm);
        if (firstOutcome.ok && secondOutcome.ok && !sameForm) {
          expect(secondOutcome.token.accessToken).not.toBe(firstOutcome.token.accessToken);
        }
        for (const verdict of [firstVerdict, secondVerdict]) if (verdict.accepted) forms.add(verdict.scope);
      }),
      {
        numRuns: 150,
        examples: [
          // Each whitespace character once where a space would be a separator.
          ...OTHER_WHITESPACE.map((other): [[string, string]] => [['*:a .:a', `*:a${other}.:a`]]),
          [['.:a  *:a ', '*:a\u00a0.:a']],
          [['*:a', '*:a\n']],
          [[' *:a/** *:a/** ', '*:a/**']],
          [['*:a', `${' '.repeat(MAX_SCOPE_STRING_LENGTH - 2)}*:a`]],
        ],
      },
    );

    // The service mints once per canonical form, whatever spelling asked for it.
    expect(sim.tokenRequests - mintsBefore).toBe(forms.size);
    expect(forms.size).toBeGreaterThan(1);
  });
});
