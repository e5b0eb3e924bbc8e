import {
  callerPrincipal,
  isValidPrincipalPattern,
  type PrincipalPattern,
  parsePrincipalPattern,
  principalMatches,
} from '@tvs/core/policy/principals';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const ACCOUNT = '123456789012';
const ORDERS_ROLE = `arn:aws:iam::${ACCOUNT}:role/orders-service`;
const ORDERS_SESSION = `arn:aws:sts::${ACCOUNT}:assumed-role/orders-service/i-0abc1234`;

describe('callerPrincipal', () => {
  it('maps an assumed-role session to its IAM role', () => {
    expect(callerPrincipal(ORDERS_SESSION)).toBe(ORDERS_ROLE);
  });

  it.each([
    ['aws-cn', `arn:aws-cn:sts::${ACCOUNT}:assumed-role/app/session`, `arn:aws-cn:iam::${ACCOUNT}:role/app`],
    [
      'aws-us-gov',
      `arn:aws-us-gov:sts::${ACCOUNT}:assumed-role/app/user@example.com`,
      `arn:aws-us-gov:iam::${ACCOUNT}:role/app`,
    ],
  ])('maps a session in the %s partition', (_partition, userArn, principal) => {
    expect(callerPrincipal(userArn)).toBe(principal);
  });

  it('returns an IAM role or user ARN as is', () => {
    expect(callerPrincipal(ORDERS_ROLE)).toBe(ORDERS_ROLE);
    expect(callerPrincipal(`arn:aws:iam::${ACCOUNT}:user/ops/rotation-bot`)).toBe(
      `arn:aws:iam::${ACCOUNT}:user/ops/rotation-bot`,
    );
  });

  it.each([
    ['an empty string', ''],
    ['another partition', `arn:aws-iso:sts::${ACCOUNT}:assumed-role/app/session`],
    ['a short account', 'arn:aws:sts::12345:assumed-role/app/session'],
    ['a region in an STS ARN', `arn:aws:sts:us-east-1:${ACCOUNT}:assumed-role/app/session`],
    ['a missing session', `arn:aws:sts::${ACCOUNT}:assumed-role/app`],
    ['a one-character session', `arn:aws:sts::${ACCOUNT}:assumed-role/app/s`],
    ['an extra path element', `arn:aws:sts::${ACCOUNT}:assumed-role/app/session/more`],
    ['a federated user', `arn:aws:sts::${ACCOUNT}:federated-user/bob`],
    ['the account root', `arn:aws:iam::${ACCOUNT}:root`],
    ['a wildcard', `arn:aws:sts::${ACCOUNT}:assumed-role/*/session`],
    ['a role name over 64 characters', `arn:aws:sts::${ACCOUNT}:assumed-role/${'r'.repeat(65)}/session`],
    ['a control character', `arn:aws:sts::${ACCOUNT}:assumed-role/app/sess\nion`],
    ['trailing space', `${ORDERS_ROLE} `],
    ['another service', `arn:aws:lambda:us-east-1:${ACCOUNT}:function:x`],
    ['an absurdly long value', `arn:aws:iam::${ACCOUNT}:user/${'a/'.repeat(2000)}b`],
  ])('rejects %s', (_what, userArn) => {
    expect(callerPrincipal(userArn)).toBeUndefined();
  });

  it('rejects a value that is not a string', () => {
    expect(callerPrincipal(undefined as unknown as string)).toBeUndefined();
  });
});

describe('isValidPrincipalPattern', () => {
  it.each([
    ORDERS_ROLE,
    `arn:aws:iam::${ACCOUNT}:role/orders-*`,
    `arn:aws:iam::${ACCOUNT}:role/*-service`,
    `arn:aws:iam::${ACCOUNT}:role/*`,
    `arn:aws-cn:iam::${ACCOUNT}:role/AWSReservedSSO_*_0123abcd`,
    `arn:aws:iam::${ACCOUNT}:user/rotation-bot`,
    `arn:aws:iam::${ACCOUNT}:user/ops/rotation-bot`,
  ])('accepts %s', (pattern) => {
    expect(isValidPrincipalPattern(pattern)).toBeUndefined();
  });

  it.each([
    ['*', 'is not an ARN'],
    ['arn:aws:iam::123456789012', 'is not an ARN'],
    [`arn:*:iam::${ACCOUNT}:role/app`, '"*" may appear only in the role name'],
    ['arn:aws:iam::*:role/app', '"*" may appear only in the role name'],
    [`arn:aws:*::${ACCOUNT}:role/app`, '"*" may appear only in the role name'],
    [`arn:aws:iam::${ACCOUNT}:*`, '"*" may appear only in the role name'],
    [`arn:aws:iam::${ACCOUNT}:user/bob*`, '"*" may appear only in the role name'],
    [`arn:aws:iam::${ACCOUNT}:user/*/bob`, '"*" may appear only in the role name'],
    [`arn:aws:iam::${ACCOUNT}:role/*/app`, 'role paths are not part of assumed-role ARNs'],
    [`arn:aws:iam::${ACCOUNT}:role/team/app`, 'role paths are not part of assumed-role ARNs'],
    [`arn:aws:iam::${ACCOUNT}:role/app**`, 'use a single "*"'],
    [`arn:aws:iam::${ACCOUNT}:role/`, 'role name must be 1 to 64 characters'],
    [`arn:aws:iam::${ACCOUNT}:role/app name`, 'role name must be 1 to 64 characters'],
    [`arn:aws:iam::${ACCOUNT}:role/${'r'.repeat(65)}`, 'role name must be 1 to 64 characters'],
    [`arn:aws-iso:iam::${ACCOUNT}:role/app`, 'unknown partition'],
    [`arn:aws:sts::${ACCOUNT}:assumed-role/app/session`, 'is not an IAM ARN'],
    [`arn:aws:iam:us-east-1:${ACCOUNT}:role/app`, 'an IAM ARN has no region'],
    ['arn:aws:iam::12345678901:role/app', 'account must be 12 digits'],
    [`arn:aws:iam::${ACCOUNT}:root`, 'expected an IAM role'],
    [`arn:aws:iam::${ACCOUNT}:group/admins`, 'expected an IAM role'],
  ])('rejects %s', (pattern, reason) => {
    expect(isValidPrincipalPattern(pattern)).toContain(reason);
  });

  it('rejects a value that is not a string', () => {
    expect(isValidPrincipalPattern(42 as unknown as string)).toBe('expected a string');
  });
});

describe('parsePrincipalPattern', () => {
  it('returns a pattern that keeps its text and matches callers’ principals', () => {
    // Act
    const pattern = parsePrincipalPattern(`arn:aws:iam::${ACCOUNT}:role/orders-*`) as PrincipalPattern;

    // Assert
    expect(pattern.text).toBe(`arn:aws:iam::${ACCOUNT}:role/orders-*`);
    expect(pattern.matches(ORDERS_ROLE)).toBe(true);
    expect(pattern.matches(`arn:aws:iam::${ACCOUNT}:role/payments-service`)).toBe(false);
    expect(pattern.matches(`arn:aws:iam::${ACCOUNT}:user/orders-service`)).toBe(false);
  });

  it('returns the problem of an invalid pattern, as isValidPrincipalPattern words it', () => {
    const pattern = `arn:aws:iam::${ACCOUNT}:role/team/app`;
    expect(parsePrincipalPattern(pattern)).toBe(isValidPrincipalPattern(pattern));
    expect(parsePrincipalPattern(pattern)).toContain('role paths are not part of assumed-role ARNs');
  });
});

describe('principalMatches', () => {
  it('matches an assumed-role session against its role ARN', () => {
    expect(principalMatches(ORDERS_ROLE, ORDERS_SESSION)).toBe(true);
  });

  it('matches an IAM user exactly', () => {
    const user = `arn:aws:iam::${ACCOUNT}:user/ops/rotation-bot`;
    expect(principalMatches(user, user)).toBe(true);
    expect(principalMatches(user, `arn:aws:iam::${ACCOUNT}:user/rotation-bot`)).toBe(false);
  });

  it.each([
    ['another role', `arn:aws:sts::${ACCOUNT}:assumed-role/orders-service-admin/s1`],
    [
      'a role with the same name in another account',
      'arn:aws:sts::210987654321:assumed-role/orders-service/s1',
    ],
    [
      'a role with the same name in another partition',
      `arn:aws-cn:sts::${ACCOUNT}:assumed-role/orders-service/s1`,
    ],
    ['a differently cased role name', `arn:aws:sts::${ACCOUNT}:assumed-role/Orders-Service/s1`],
    ['the same role presented with a path', `arn:aws:iam::${ACCOUNT}:role/team/orders-service`],
    ['a malformed caller', 'orders-service'],
  ])('does not match %s', (_what, userArn) => {
    expect(principalMatches(ORDERS_ROLE, userArn)).toBe(false);
  });

  it('lets "*" match any run of characters within the role name', () => {
    const pattern = `arn:aws:iam::${ACCOUNT}:role/orders-*-prod`;
    const session = (role: string): string => `arn:aws:sts::${ACCOUNT}:assumed-role/${role}/session`;
    expect(
      ['orders-api-prod', 'orders--prod', 'orders-a.b@c-prod', 'orders-api-staging', 'payments-api-prod'].map(
        (role) => principalMatches(pattern, session(role)),
      ),
    ).toEqual([true, true, true, false, false]);
  });

  it('does not let "*" in a role name reach across a role path', () => {
    const pattern = `arn:aws:iam::${ACCOUNT}:role/*`;
    expect(principalMatches(pattern, `arn:aws:iam::${ACCOUNT}:role/team/orders-service`)).toBe(false);
    expect(principalMatches(pattern, `arn:aws:iam::${ACCOUNT}:role/orders-service`)).toBe(true);
    expect(principalMatches(pattern, `arn:aws:iam::${ACCOUNT}:user/orders-service`)).toBe(false);
  });

  it('never matches with an invalid pattern, even one that would match as a wildcard', () => {
    expect(principalMatches(`arn:aws:iam::*:role/orders-service`, ORDERS_SESSION)).toBe(false);
    expect(principalMatches('*', ORDERS_SESSION)).toBe(false);
    expect(principalMatches(`arn:aws:iam::${ACCOUNT}:*`, ORDERS_SESSION)).toBe(false);
    expect(
      principalMatches(`arn:aws:sts::${ACCOUNT}:assumed-role/orders-service/i-0abc1234`, ORDERS_SESSION),
    ).toBe(false);
  });

  it('matches role names exactly as a regular-expression reading of "*" does', () => {
    const nameArbitrary = fc
      .array(fc.constantFrom('a', 'b', '-'), { minLength: 1, maxLength: 10 })
      .map((characters) => characters.join(''));
    const namePatternArbitrary = fc
      .array(fc.constantFrom('a', 'b', '-', '*'), { minLength: 1, maxLength: 8 })
      .map((characters) => characters.join(''))
      .filter((namePattern) => !namePattern.includes('**'));
    fc.assert(
      fc.property(namePatternArbitrary, nameArbitrary, (namePattern, roleName) => {
        // Arrange
        const expected = new RegExp(`^${namePattern.replaceAll('*', '.*')}$`).test(roleName);

        // Act
        const matched = principalMatches(
          `arn:aws:iam::${ACCOUNT}:role/${namePattern}`,
          `arn:aws:sts::${ACCOUNT}:assumed-role/${roleName}/session`,
        );

        // Assert
        expect(matched).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('answers quickly for a pattern full of "*"', () => {
    const pattern = `arn:aws:iam::${ACCOUNT}:role/${'*a'.repeat(31)}b`;
    const started = performance.now();
    expect(principalMatches(pattern, `arn:aws:sts::${ACCOUNT}:assumed-role/${'a'.repeat(64)}/session`)).toBe(
      false,
    );
    expect(performance.now() - started).toBeLessThan(100);
  });
});
