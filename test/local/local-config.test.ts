/**
 * The `local` section's parser: what a valid section becomes, and every problem of an invalid one, in
 * the order `tvs serve` and `tvs validate` report them.
 */
import { resolve } from 'node:path';
import { LocalConfigError } from '@tvs/client/contract';
import { parseLocalSection } from '@tvs/local/local-config';
import { describe, expect, it } from 'vitest';

const ORDERS = {
  secretAccessKey: 'orders-secret-0000000000000000000000001',
  arn: 'arn:aws:iam::111111111111:role/orders',
};

function problemsOf(document: unknown): readonly string[] {
  try {
    parseLocalSection(document, '/configs', 'tvs.config.json');
  } catch (error) {
    if (!(error instanceof LocalConfigError)) throw error;
    expect(error.source).toBe('tvs.config.json');
    return error.problems;
  }
  throw new Error('the section was accepted');
}

describe('parseLocalSection', () => {
  it('resolves the secrets file against the base folder and keys callers by access key id', () => {
    const local = parseLocalSection(
      {
        local: {
          secretsFile: 'secrets.json',
          callers: {
            AKIDTVSLOCALCONFIG01: ORDERS,
            AKIDTVSLOCALCONFIG02: { ...ORDERS, sessionToken: 'the-session-token' },
          },
          allowedAccounts: ['111111111111'],
          note: 'kept for people',
        },
      },
      '/configs',
    );
    expect(local).toEqual({
      secretsFile: resolve('/configs', 'secrets.json'),
      region: 'us-east-1',
      callers: new Map([
        ['AKIDTVSLOCALCONFIG01', { accessKeyId: 'AKIDTVSLOCALCONFIG01', ...ORDERS }],
        [
          'AKIDTVSLOCALCONFIG02',
          { accessKeyId: 'AKIDTVSLOCALCONFIG02', ...ORDERS, sessionToken: 'the-session-token' },
        ],
      ]),
      endpoint: 'rest-api',
      allowedAccounts: new Set(['111111111111']),
    });
  });

  it('keeps the region and front door it is given, and leaves out what is not set', () => {
    const local = parseLocalSection(
      { local: { region: 'eu-west-1', endpoint: 'function-url', callers: { AKIDTVSLOCALCONFIG01: ORDERS } } },
      '/configs',
    );
    expect(local).toEqual({
      region: 'eu-west-1',
      callers: new Map([['AKIDTVSLOCALCONFIG01', { accessKeyId: 'AKIDTVSLOCALCONFIG01', ...ORDERS }]]),
      endpoint: 'function-url',
    });
  });

  it('refuses a document without a local object', () => {
    expect(problemsOf({})).toEqual(['local: must be an object with "callers"']);
    expect(problemsOf({ local: [] })).toEqual(['local: must be an object with "callers"']);
    expect(problemsOf('local')).toEqual(['local: must be an object with "callers"']);
  });

  it('reports every problem of the section and its callers, in order, without a secret', () => {
    const problems = problemsOf({
      local: {
        callers: {
          'not-a-key': 'a string',
          AKIDTVSLOCALCONFIG01: {
            secretAccessKey: 'short',
            arn: 'arn:aws:iam::1111:role/orders',
            sessionToken: '',
            extra: true,
          },
          AKIDTVSLOCALCONFIG02: { secretAccessKey: 12345678, sessionToken: 7 },
        },
        endpoint: 'http-api',
        secretsFile: '',
        region: 'Mars',
        allowedAccounts: ['1111'],
        callerz: {},
      },
    });
    expect(problems).toEqual([
      'local.callerz: unknown field',
      'local.allowedAccounts: must be a non-empty array of 12-digit account ids',
      'local.endpoint: must be one of "rest-api", "function-url"',
      'local.secretsFile: must be a non-empty path',
      'local.region: must be a region like us-east-1',
      'local.callers.not-a-key: an access key id is 16–128 capital letters or digits',
      'local.callers.not-a-key: must be an object',
      'local.callers.AKIDTVSLOCALCONFIG01.extra: unknown field',
      'local.callers.AKIDTVSLOCALCONFIG01.secretAccessKey: must be a string of at least 8 characters',
      'local.callers.AKIDTVSLOCALCONFIG01.arn: must be an IAM role/user or STS assumed-role ARN',
      'local.callers.AKIDTVSLOCALCONFIG01.sessionToken: must be a non-empty string',
      'local.callers.AKIDTVSLOCALCONFIG02.secretAccessKey: must be a string of at least 8 characters',
      'local.callers.AKIDTVSLOCALCONFIG02.arn: must be an IAM role/user or STS assumed-role ARN',
      'local.callers.AKIDTVSLOCALCONFIG02.sessionToken: must be a non-empty string',
    ]);
    expect(problems.join('\n')).not.toContain('short');
  });

  it.each([
    [undefined, 'local.callers: must map at least one access key id to {"secretAccessKey","arn"}'],
    [{}, 'local.callers: must map at least one access key id to {"secretAccessKey","arn"}'],
  ])('requires at least one caller (%j)', (callers, problem) => {
    expect(problemsOf({ local: { callers, allowedAccounts: [] } })).toEqual([
      'local.allowedAccounts: must be a non-empty array of 12-digit account ids',
      problem,
    ]);
  });
});
