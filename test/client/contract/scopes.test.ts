import {
  allows,
  canonicalScope,
  covers,
  coversAll,
  InvalidScopeError,
  MAX_SCOPE_PATH_LENGTH,
  MAX_SCOPE_STRING_LENGTH,
  MAX_SCOPES,
  parseScope,
  parseScopes,
  quoteForMessage,
  type Scope,
} from '@tvs/client/contract';
import { describe, expect, it } from 'vitest';

const LOGIN_POLICY = 'config/loginPolicies/1ab23c45-6789-0123-d4ef-5g678h90ijk1';
const TOKEN_POLICY = 'config/tokenPolicies/a123bcde-4f56-7890-gh12-i34j567k8l90';
const OIDC_CLIENT = 'config/clients/1ab23456-7c8d-90ef-g123-45hij6789012';

function scopeErrorMessage(scopeString: string): string {
  try {
    parseScopes(scopeString);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidScopeError);
    return (error as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(scopeString)} to be refused`);
}

describe('parseScopes on the Identity Cloud examples', () => {
  // Every scope string of the "Scope examples" table (Identity Cloud's documentation), plus the other scopes docs/contract.md names.
  const examples: { scopeString: string; canonical: string; count: number }[] = [
    { scopeString: '*:config/**', canonical: '*:config/**', count: 1 },
    { scopeString: '.:config/**', canonical: '.:config/**', count: 1 },
    { scopeString: '*:config/tokenPolicies**', canonical: '*:config/tokenPolicies**', count: 1 },
    {
      scopeString: '.:config/tokenPolicies** .:config/loginPolicies**',
      canonical: '.:config/loginPolicies** .:config/tokenPolicies**',
      count: 2,
    },
    { scopeString: `.:${LOGIN_POLICY}`, canonical: `.:${LOGIN_POLICY}`, count: 1 },
    { scopeString: `*:${LOGIN_POLICY}`, canonical: `*:${LOGIN_POLICY}`, count: 1 },
    {
      scopeString: `*:${TOKEN_POLICY} *:${LOGIN_POLICY} *:${OIDC_CLIENT}`,
      canonical: `*:${OIDC_CLIENT} *:${LOGIN_POLICY} *:${TOKEN_POLICY}`,
      count: 3,
    },
    { scopeString: '*:webhooks/**', canonical: '*:webhooks/**', count: 1 },
    { scopeString: '*:**', canonical: '*:**', count: 1 },
  ];

  it.each(examples)('parses and canonicalises "$scopeString"', ({ scopeString, canonical, count }) => {
    // Act
    const scopes = parseScopes(scopeString);

    // Assert
    expect(scopes).toHaveLength(count);
    expect(scopes.map((scope) => scope.text).join(' ')).toBe(scopeString);
    expect(canonicalScope(scopes)).toBe(canonical);
  });

  it('splits a scope into access and path glob', () => {
    expect(parseScope('.:config/tokenPolicies**')).toEqual({
      access: '.',
      path: 'config/tokenPolicies**',
      text: '.:config/tokenPolicies**',
    });
  });

  it('returns frozen scopes', () => {
    expect(Object.isFrozen(parseScope('*:config/**'))).toBe(true);
  });

  it('treats runs of spaces and leading or trailing spaces as one separator', () => {
    const scopes = parseScopes('  *:config/**    .:webhooks/** ');
    expect(scopes.map((scope) => scope.text)).toEqual(['*:config/**', '.:webhooks/**']);
  });

  it('keeps duplicates, which only the canonical form removes', () => {
    const scopes = parseScopes('.:config/** .:config/**');
    expect(scopes).toHaveLength(2);
    expect(canonicalScope(scopes)).toBe('.:config/**');
  });

  it('accepts exactly the maximum number of scopes and path length', () => {
    const many = Array.from({ length: MAX_SCOPES }, (_, index) => `.:config/p${index}`).join(' ');
    expect(parseScopes(many)).toHaveLength(MAX_SCOPES);
    expect(parseScope(`.:${'a'.repeat(MAX_SCOPE_PATH_LENGTH)}`).path).toHaveLength(MAX_SCOPE_PATH_LENGTH);
  });
});

describe('parseScopes refusals', () => {
  const refusals: { scopeString: string; message: string }[] = [
    { scopeString: '', message: 'scope string is empty; expected e.g. ".:config/**"' },
    { scopeString: '   ', message: 'scope string is empty; expected e.g. ".:config/**"' },
    { scopeString: '*:config/** x:y', message: 'scope 2 ("x:y"): unknown access "x"; expected "*" or "."' },
    {
      scopeString: 'rw:config/**',
      message: 'scope 1 ("rw:config/**"): unknown access "rw"; expected "*" or "."',
    },
    {
      scopeString: ':config/**',
      message: 'scope 1 (":config/**"): missing access before ":"; expected "*" or "."',
    },
    { scopeString: 'config/**', message: 'scope 1 ("config/**"): missing ":" between access and path' },
    { scopeString: '*:', message: 'scope 1 ("*:"): empty path' },
    { scopeString: '*:config/**\t.:webhooks/**', message: 'character U+0009 at position 12 is not allowed' },
    { scopeString: '*:config/%2e%2e/x', message: 'character "%" at position 10 is not allowed' },
    { scopeString: '*:config/?', message: 'character "?" at position 10 is not allowed' },
    { scopeString: '*:config/[ab]', message: 'character "[" at position 10 is not allowed' },
    { scopeString: '*:config/{a,b}', message: 'character "{" at position 10 is not allowed' },
    { scopeString: '*:config/"x"', message: 'character "\\"" at position 10 is not allowed' },
    { scopeString: '*:config\\x', message: 'character "\\\\" at position 9 is not allowed' },
    { scopeString: '*:config/x:y', message: 'character ":" at position 11 is not allowed' },
    { scopeString: '*:config/é', message: 'character U+00E9 at position 10 is not allowed' },
    { scopeString: '*:config/\u0000', message: 'character U+0000 at position 10 is not allowed' },
    { scopeString: '*:config/***', message: '3 consecutive "*" at position 10 are ambiguous' },
    { scopeString: '*:/config/**', message: 'path must not start with "/"' },
    { scopeString: '*:config/', message: 'path must not end with "/"' },
    { scopeString: '*:config//clients', message: 'empty path segment at position 10' },
    { scopeString: '*:config/../webhooks/**', message: 'path segment ".." is not allowed' },
    { scopeString: '*:./config', message: 'path segment "." is not allowed' },
    {
      scopeString: `*:${'a'.repeat(MAX_SCOPE_PATH_LENGTH + 1)}`,
      message: `path is ${MAX_SCOPE_PATH_LENGTH + 1} characters long; at most ${MAX_SCOPE_PATH_LENGTH} are allowed`,
    },
    {
      scopeString: Array.from({ length: MAX_SCOPES + 1 }, () => '.:a').join(' '),
      message: `scope string has ${MAX_SCOPES + 1} scopes; at most ${MAX_SCOPES} are allowed`,
    },
    {
      scopeString: `.:${'a'.repeat(MAX_SCOPE_STRING_LENGTH)}`,
      message: `scope string is ${MAX_SCOPE_STRING_LENGTH + 2} characters long; at most ${MAX_SCOPE_STRING_LENGTH} are allowed`,
    },
  ];

  it.each(refusals)('refuses $scopeString saying "$message"', ({ scopeString, message }) => {
    expect(scopeErrorMessage(scopeString)).toContain(message);
  });

  it('quotes the offending scope truncated and with control characters escaped', () => {
    // Arrange
    const hostile = `*:${'x'.repeat(100)}\u001b[31m\n`;

    // Act
    const message = scopeErrorMessage(`.:config/** ${hostile}`);

    // Assert
    expect(message).toMatch(/^scope 2 \("\*:x{38}…"\): character U\+001B at position 103 is not allowed/);
    expect(message).not.toMatch(/[\u0000-\u001f\u007f]/);
  });

  it('escapes control characters inside the quoted scope', () => {
    const message = scopeErrorMessage('\u001b:x');
    expect(message).toBe('scope 1 ("\\u{1b}:x"): unknown access "\\u{1b}"; expected "*" or "."');
  });

  it('refuses a value that is not a string', () => {
    expect(() => parseScopes(42 as unknown as string)).toThrow(InvalidScopeError);
    expect(() => parseScope(undefined as unknown as string)).toThrow(InvalidScopeError);
  });

  it('names the scope without a number when parsing a single scope', () => {
    expect(() => parseScope('x:y')).toThrow('scope "x:y": unknown access "x"; expected "*" or "."');
  });
});

describe('quoteForMessage', () => {
  it('escapes quotes, backslashes and non-printable characters and truncates', () => {
    expect(quoteForMessage('a"b\\c\u202ed', 40)).toBe('"a\\"b\\\\c\\u{202e}d"');
    expect(quoteForMessage('abcdef', 3)).toBe('"abc…"');
  });
});

describe('covers', () => {
  const containment: { granting: string; requested: string; covered: boolean }[] = [
    { granting: '*:config/**', requested: '.:config/tokenPolicies**', covered: true },
    { granting: '*:config/**', requested: `*:${LOGIN_POLICY}`, covered: true },
    { granting: '*:config/**', requested: `.:${LOGIN_POLICY}`, covered: true },
    { granting: '*:config/**', requested: '.:config/**', covered: true },
    { granting: '*:config/**', requested: '*:config/tokenPolicies**', covered: true },
    { granting: '*:config/**', requested: '*:config/*', covered: true },
    { granting: '*:config/**', requested: `*:${OIDC_CLIENT}`, covered: true },
    { granting: '.:config/**', requested: '*:config/clients/x', covered: false },
    { granting: '.:config/**', requested: '.:config/tokenPolicies**', covered: true },
    { granting: '.:config/**', requested: `.:${LOGIN_POLICY}`, covered: true },
    { granting: '.:config/**', requested: `*:${LOGIN_POLICY}`, covered: false },
    { granting: '*:webhooks/**', requested: '*:config/**', covered: false },
    { granting: '*:webhooks/**', requested: '.:webhooks/**', covered: true },
    { granting: '*:webhooks/**', requested: '*:webhooks', covered: false },
    { granting: '*:webhooks**', requested: '*:webhooks', covered: true },
    { granting: '*:webhooks**', requested: '*:webhooksEvil/x', covered: true },
    { granting: '*:webhooks/**', requested: '*:webhooksEvil/x', covered: false },
    { granting: '*:**', requested: '*:webhooks/**', covered: true },
    { granting: '*:**', requested: '.:config/**', covered: true },
    { granting: '*:**', requested: '*:config/tokenPolicies**', covered: true },
    { granting: '.:**', requested: '*:webhooks/**', covered: false },
    { granting: '*:config/tokenPolicies**', requested: `*:${TOKEN_POLICY}`, covered: true },
    { granting: '*:config/tokenPolicies**', requested: '*:config/tokenPolicies', covered: true },
    { granting: '*:config/tokenPolicies**', requested: `*:${LOGIN_POLICY}`, covered: false },
    { granting: '.:config/tokenPolicies**', requested: '.:config/**', covered: false },
    { granting: '.:config/loginPolicies**', requested: `.:${LOGIN_POLICY}`, covered: true },
    { granting: `*:${LOGIN_POLICY}`, requested: `.:${LOGIN_POLICY}`, covered: true },
    { granting: `.:${LOGIN_POLICY}`, requested: `*:${LOGIN_POLICY}`, covered: false },
    { granting: `*:${LOGIN_POLICY}`, requested: '*:config/loginPolicies/*', covered: false },
    { granting: '*:config/*', requested: '*:config/**', covered: false },
    { granting: '*:config/*', requested: '*:config/clients', covered: true },
    { granting: '*:config/*', requested: `*:${OIDC_CLIENT}`, covered: false },
    { granting: '*:config/*/x', requested: '*:config/a*/x', covered: true },
    { granting: '*:config/a*/x', requested: '*:config/*/x', covered: false },
    { granting: '*:*/**', requested: '*:**', covered: false },
    { granting: '*:**/*', requested: '*:*/**', covered: true },
    { granting: '*:*/**', requested: '*:**/*', covered: true },
    { granting: '*:**a**', requested: '*:*a', covered: true },
    { granting: '*:*a*', requested: '*:**a', covered: false },
    { granting: '*:a*b', requested: '*:a**b', covered: false },
    { granting: '*:a**', requested: '*:a*/**', covered: true },
    { granting: '*:**x**', requested: '*:**xx**', covered: true },
  ];

  it.each(containment)(
    'says "$granting" covers "$requested": $covered',
    ({ granting, requested, covered }) => {
      // Arrange
      const grantingScope = parseScope(granting);
      const requestedScope = parseScope(requested);

      // Act
      const result = covers(grantingScope, requestedScope);

      // Assert
      expect(result).toBe(covered);
    },
  );

  it('contains every example scope in itself', () => {
    const scopes = parseScopes(
      `*:config/** .:config/** *:config/tokenPolicies** .:config/loginPolicies** .:${LOGIN_POLICY} *:${TOKEN_POLICY} *:webhooks/** *:**`,
    );
    expect(scopes.filter((scope) => !covers(scope, scope))).toEqual([]);
  });

  it('refuses scopes that were not built by the parser and do not parse', () => {
    const forged = { access: '*', path: 'config/***', text: '*:config/***' } as Scope;
    const wrongAccess = { access: 'rw', path: 'config/x', text: 'rw:config/x' } as unknown as Scope;
    const outsider = parseScope('.:config/x');
    expect(covers(forged, outsider)).toBe(false);
    expect(covers(parseScope('*:**'), forged)).toBe(false);
    expect(covers(parseScope('*:**'), wrongAccess)).toBe(false);
  });
});

describe('coversAll', () => {
  const granting = parseScopes('.:config/** *:webhooks/**');

  it('is true when each requested scope is covered by some granting scope', () => {
    expect(coversAll(granting, parseScopes(`.:${LOGIN_POLICY} *:webhooks/abc .:webhooks/**`))).toBe(true);
  });

  it('is false when any requested scope is covered by none', () => {
    expect(coversAll(granting, parseScopes(`.:${LOGIN_POLICY} *:${LOGIN_POLICY}`))).toBe(false);
  });

  it('does not combine two granting scopes to cover one requested scope', () => {
    const split = parseScopes('*:a/** *:b/**');
    expect(coversAll(split, parseScopes('*:*/x'))).toBe(false);
  });
});

describe('allows', () => {
  const readOnly = parseScope('.:config/**');
  const readWrite = parseScope('*:config/tokenPolicies**');

  it('lets read-only access GET and HEAD but nothing else', () => {
    expect(
      ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'].map((method) => allows(readOnly, method, 'config/a')),
    ).toEqual([true, true, false, false, false]);
  });

  it('lets access "*" use every method', () => {
    expect(['GET', 'POST', 'PUT', 'PATCH'].every((method) => allows(readWrite, method, TOKEN_POLICY))).toBe(
      true,
    );
  });

  it('matches the glob against the whole path', () => {
    expect(allows(readWrite, 'PUT', 'config/tokenPolicies')).toBe(true);
    expect(allows(readWrite, 'PUT', 'config/tokenPoliciesX/y')).toBe(true);
    expect(allows(readWrite, 'PUT', `x/${TOKEN_POLICY}`)).toBe(false);
    expect(allows(parseScope('*:config/*'), 'GET', 'config/a/b')).toBe(false);
    expect(allows(parseScope('*:config/*'), 'GET', 'config/')).toBe(true);
  });

  it('refuses a path with glob characters and a method that is not an upper-case token', () => {
    expect(allows(parseScope('*:**'), 'GET', 'config/*')).toBe(false);
    expect(allows(parseScope('*:**'), 'get', 'config/a')).toBe(false);
    expect(allows(parseScope('*:**'), '', 'config/a')).toBe(false);
  });
});
