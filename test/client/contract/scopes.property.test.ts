import {
  type Access,
  allows,
  canonicalScope,
  covers,
  InvalidScopeError,
  MAX_SCOPE_PATH_LENGTH,
  parseScope,
  parseScopes,
  type Scope,
} from '@tvs/client/contract';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/** An independent reading of the glob rules, as a regular expression, to check `allows` against. */
function globRegExp(path: string): RegExp {
  const pattern = path
    .split(/(\*\*|\*)/)
    .map((part) => (part === '**' ? '.*' : part === '*' ? '[^/]*' : part.replace(/[.\-~]/g, '\\$&')))
    .join('');
  return new RegExp(`^(?:${pattern})$`, 's');
}

function tryParse(text: string): Scope | undefined {
  try {
    return parseScope(text);
  } catch {
    return undefined;
  }
}

/** One path segment of a glob over the small alphabet a, b, `*`, `**`. */
function segmentArbitrary(maxTokens: number): fc.Arbitrary<string> {
  return fc
    .array(fc.constantFrom('a', 'b', '*', '**'), { minLength: 1, maxLength: maxTokens })
    .map((tokens) => tokens.join(''));
}

/** A valid scope whose glob uses a, b, `/`, `*` and `**` (inputs with three `*` in a row are dropped). */
function scopeArbitrary(
  maxSegments: number,
  accesses: readonly Access[] = ['*', '.'],
  maxTokensPerSegment = 3,
): fc.Arbitrary<Scope> {
  return fc
    .tuple(
      fc.constantFrom(...accesses),
      fc.array(segmentArbitrary(maxTokensPerSegment), { minLength: 1, maxLength: maxSegments }),
    )
    .map(([access, segments]) => tryParse(`${access}:${segments.join('/')}`))
    .filter((scope): scope is Scope => scope !== undefined);
}

/**
 * Scopes at least as wide as `scope`: access possibly raised to `*`, and some tokens replaced by a
 * wildcard that matches them (a literal by `*` or `**`, `/` or `*` by `**`). Results that would put three
 * `*` in a row are dropped.
 */
function widenedArbitrary(scope: Scope): fc.Arbitrary<Scope> {
  const tokens = scope.path.match(/\*\*|\*|[^*]/g) ?? [];
  return fc
    .tuple(
      fc.constantFrom<Access>(scope.access, '*'),
      fc.tuple(
        ...tokens.map((token) =>
          token === '/' || token === '*' || token === '**'
            ? fc.constantFrom(token, '**')
            : fc.constantFrom(token, '*', '**'),
        ),
      ),
    )
    .map(([access, widened]) => tryParse(`${access}:${widened.join('')}`))
    .filter((widened): widened is Scope => widened !== undefined);
}

/** A concrete path over a, b, c and `/` (c is a character no glob here names). */
const concretePathArbitrary = fc
  .array(fc.constantFrom('a', 'b', 'c', '/'), { maxLength: 8 })
  .map((characters) => characters.join(''));

/** Concrete paths the glob of `scope` matches: each wildcard replaced by a random filler it can match. */
function instancesOf(scope: Scope): fc.Arbitrary<string> {
  const parts = scope.path.split(/(\*\*|\*)/);
  return fc
    .tuple(
      ...parts.map((part) =>
        part === '**'
          ? fc.array(fc.constantFrom('a', 'b', 'c', '/'), { maxLength: 4 }).map((filler) => filler.join(''))
          : part === '*'
            ? fc.array(fc.constantFrom('a', 'b', 'c'), { maxLength: 3 }).map((filler) => filler.join(''))
            : fc.constant(part),
      ),
    )
    .map((filled) => filled.join(''));
}

/** Every string over a, b, c, `/` up to `maxLength` characters. */
function allPaths(maxLength: number): string[] {
  let paths = [''];
  let frontier = [''];
  for (let length = 1; length <= maxLength; length += 1) {
    frontier = frontier.flatMap((prefix) => ['a', 'b', 'c', '/'].map((character) => prefix + character));
    paths = paths.concat(frontier);
  }
  return paths;
}
const SHORT_PATHS = allPaths(7);

describe('scope glob matching', () => {
  it('agrees with a regular-expression reading of the glob rules', () => {
    fc.assert(
      fc.property(scopeArbitrary(4), concretePathArbitrary, (scope, path) => {
        // Arrange
        const expected = globRegExp(scope.path).test(path);

        // Act
        const allowed = allows(scope, 'GET', path);

        // Assert
        expect(allowed).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('matches every instance built from the glob itself', () => {
    fc.assert(
      fc.property(
        scopeArbitrary(4).chain((scope) => fc.tuple(fc.constant(scope), instancesOf(scope))),
        ([scope, path]) => {
          expect(allows(scope, 'GET', path)).toBe(true);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('allows a method other than GET or HEAD only for access "*"', () => {
    fc.assert(
      fc.property(
        scopeArbitrary(3).chain((scope) => fc.tuple(fc.constant(scope), instancesOf(scope))),
        fc.constantFrom(...METHODS),
        ([scope, path], method) => {
          const isRead = method === 'GET' || method === 'HEAD';
          expect(allows(scope, method, path)).toBe(scope.access === '*' || isRead);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('scope containment', () => {
  it('is sound: what the requested scope allows, the covering scope allows too', () => {
    const requestArbitrary = scopeArbitrary(3).chain((requested) =>
      fc.tuple(
        fc.constant(requested),
        fc.array(fc.oneof(instancesOf(requested), concretePathArbitrary), { minLength: 1, maxLength: 20 }),
      ),
    );
    let coveredPairs = 0;
    fc.assert(
      fc.property(
        scopeArbitrary(3),
        requestArbitrary,
        fc.constantFrom(...METHODS),
        (granting, [requested, paths], method) => {
          fc.pre(covers(granting, requested));
          coveredPairs += 1;
          for (const path of paths) {
            if (allows(requested, method, path)) {
              expect(allows(granting, method, path)).toBe(true);
            }
          }
        },
      ),
      { numRuns: 1000 },
    );
    expect(coveredPairs).toBeGreaterThan(100);
  });

  it('is exact: it answers true precisely when no short path is a counterexample', () => {
    // These globs (two segments of at most two tokens: at most two wildcards, four literals and one `/`)
    // have short counterexamples — a search to 9 characters over many thousand pairs never needed more
    // than 6 — so an exhaustive search up to 7 decides inclusion for them. The test fails if `covers` is
    // ever too wide (unsound) or answers false where containment holds (incomplete).
    const smallScope = scopeArbitrary(2, ['*'], 2);
    fc.assert(
      fc.property(smallScope, smallScope, (granting, requested) => {
        // Arrange
        const grantingPattern = globRegExp(granting.path);
        const requestedPattern = globRegExp(requested.path);
        const counterexample = SHORT_PATHS.find(
          (path) => requestedPattern.test(path) && !grantingPattern.test(path),
        );

        // Act
        const covered = covers(granting, requested);

        // Assert
        expect({ covered, counterexample }).toEqual(
          counterexample === undefined
            ? { covered: true, counterexample }
            : { covered: false, counterexample },
        );
      }),
      { numRuns: 1000 },
    );
  });

  it('covers any extension of a prefix by that prefix followed by "**"', () => {
    const prefixArbitrary = fc
      .array(fc.constantFrom('a', 'b', '/', '*'), { maxLength: 5 })
      .map((characters) => characters.join(''));
    fc.assert(
      fc.property(
        prefixArbitrary,
        fc.array(fc.constantFrom('a', 'b', '/', '*', '**'), { minLength: 1, maxLength: 5 }),
        fc.constantFrom<Access>('*', '.'),
        (prefix, suffix, access) => {
          const granting = tryParse(`*:${prefix}**`);
          const requested = tryParse(`${access}:${prefix}${suffix.join('')}`);
          fc.pre(granting !== undefined && requested !== undefined);
          expect(covers(granting!, requested!)).toBe(true);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('contains every scope in itself', () => {
    fc.assert(
      fc.property(scopeArbitrary(5), (scope) => {
        expect(covers(scope, scope)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('covers every widening of a scope, and chains of widenings (transitivity)', () => {
    const chainArbitrary = scopeArbitrary(3).chain((inner) =>
      widenedArbitrary(inner).chain((middle) =>
        fc.tuple(fc.constant(inner), fc.constant(middle), widenedArbitrary(middle)),
      ),
    );
    fc.assert(
      fc.property(chainArbitrary, ([inner, middle, outer]) => {
        expect([covers(middle, inner), covers(outer, middle), covers(outer, inner)]).toEqual([
          true,
          true,
          true,
        ]);
      }),
      { numRuns: 1000 },
    );
  });

  it('is transitive on unrelated scopes', () => {
    let chains = 0;
    fc.assert(
      fc.property(scopeArbitrary(2), scopeArbitrary(2), scopeArbitrary(2), (outer, middle, inner) => {
        if (covers(outer, middle) && covers(middle, inner)) {
          chains += 1;
          expect(covers(outer, inner)).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
    expect(chains).toBeGreaterThan(0);
  });

  it('never lets read-only access cover access "*"', () => {
    fc.assert(
      fc.property(scopeArbitrary(3, ['.']), scopeArbitrary(3, ['*']), (granting, requested) => {
        expect(covers(granting, requested)).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it('answers within a bounded time for long adversarial globs', () => {
    const pieceArbitrary = fc
      .tuple(fc.constantFrom('a', 'b', 'a/', '/a', 'ab'), fc.constantFrom('*', '**', ''))
      .map(([literal, wildcard]) => literal + wildcard);
    const longScopeArbitrary = fc
      .array(pieceArbitrary, { minLength: 40, maxLength: 120 })
      .map((pieces) => tryParse(`*:${pieces.join('').slice(0, MAX_SCOPE_PATH_LENGTH)}`))
      .filter((scope): scope is Scope => scope !== undefined);
    fc.assert(
      fc.property(longScopeArbitrary, longScopeArbitrary, (granting, requested) => {
        const started = performance.now();
        covers(granting, requested);
        expect(performance.now() - started).toBeLessThan(1000);
      }),
      { numRuns: 50 },
    );
  });
});

describe('canonicalScope', () => {
  const scopeListArbitrary = fc.array(scopeArbitrary(3), { minLength: 1, maxLength: 8 });

  it('is idempotent', () => {
    fc.assert(
      fc.property(scopeListArbitrary, (scopes) => {
        const canonical = canonicalScope(scopes);
        expect(canonicalScope(parseScopes(canonical))).toBe(canonical);
      }),
      { numRuns: 1000 },
    );
  });

  it('does not depend on the order of the scopes', () => {
    fc.assert(
      fc.property(
        scopeListArbitrary.chain((scopes) =>
          fc.tuple(fc.constant(scopes), fc.shuffledSubarray(scopes, { minLength: scopes.length })),
        ),
        ([scopes, shuffled]) => {
          expect(canonicalScope(shuffled)).toBe(canonicalScope(scopes));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('lists each distinct scope exactly once, in ascending order', () => {
    fc.assert(
      fc.property(scopeListArbitrary, (scopes) => {
        const canonical = canonicalScope([...scopes, ...scopes]).split(' ');
        const distinct = new Set(scopes.map((scope) => scope.text));
        expect(canonical).toHaveLength(distinct.size);
        expect(new Set(canonical)).toEqual(distinct);
        expect(canonical.every((text, index) => index === 0 || (canonical[index - 1] ?? '') < text)).toBe(
          true,
        );
      }),
      { numRuns: 1000 },
    );
  });
});

describe('parseScopes on arbitrary input', () => {
  const expectOnlyInvalidScopeError = (input: string): void => {
    try {
      const scopes = parseScopes(input);
      expect(scopes.length).toBeGreaterThan(0);
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidScopeError);
      const message = (error as Error).message;
      expect(message).toMatch(/^[\x20-\x7e…]*$/);
      expect(message.length).toBeLessThan(300);
    }
  };

  it('throws nothing but InvalidScopeError with a short, printable message on any string', () => {
    fc.assert(fc.property(fc.string({ maxLength: 2000 }), expectOnlyInvalidScopeError), { numRuns: 2000 });
  });

  it('throws nothing but InvalidScopeError on any sequence of UTF-16 code units', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), expectOnlyInvalidScopeError), {
      numRuns: 2000,
    });
  });

  it('throws nothing but InvalidScopeError on near-miss scope strings', () => {
    const nearMissArbitrary = fc
      .array(fc.constantFrom('*', '.', ':', '/', 'a', ' ', '\t', '%', '?', '"', '\\', '\u0000', 'é', '**'), {
        maxLength: 40,
      })
      .map((parts) => parts.join(''));
    fc.assert(fc.property(nearMissArbitrary, expectOnlyInvalidScopeError), { numRuns: 2000 });
  });

  it('parses back what it accepted to the same scopes', () => {
    fc.assert(
      fc.property(fc.array(scopeArbitrary(3), { minLength: 1, maxLength: 6 }), (scopes) => {
        const reparsed = parseScopes(scopes.map((scope) => scope.text).join('  '));
        expect(reparsed).toEqual(scopes);
      }),
      { numRuns: 1000 },
    );
  });
});
