import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as errors from '@tvs/client/contract';
import {
  AccessDeniedError,
  CircuitOpenError,
  ConfigError,
  CredentialsError,
  codeOfAnswer,
  ERROR_CODES,
  type ErrorCode,
  errorCodeInfo,
  InvalidRequestError,
  InvalidScopeError,
  LocalConfigError,
  MethodNotAllowedError,
  MinTtlUnattainableError,
  MintThrottledError,
  NotFoundError,
  RotationError,
  SERVICE_ERROR_CODES,
  SealedTokenError,
  type ServiceError,
  StoreUnavailableError,
  TokenServiceError,
  TvsError,
  UNAVAILABILITIES,
  type UnavailableReason,
  UnsupportedMediaTypeError,
  UPSTREAM_REJECTIONS,
  UpstreamRejectedError,
  type UpstreamRejectionReason,
  UpstreamUnavailableError,
  UsageError,
} from '@tvs/client/contract';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const CODES = Object.keys(ERROR_CODES) as ErrorCode[];

/** One instance of every failure the service answers with, each built as the service builds it. */
function everyAnsweredFailure(): ServiceError[] {
  return [
    new InvalidRequestError('x'),
    new MinTtlUnattainableError('x'),
    new UnsupportedMediaTypeError('x'),
    new NotFoundError('x'),
    new MethodNotAllowedError('x', 'POST'),
    new InvalidScopeError('x'),
    new AccessDeniedError('x'),
    ...(Object.keys(UPSTREAM_REJECTIONS) as UpstreamRejectionReason[]).map(
      (reason) => new UpstreamRejectedError('x', reason),
    ),
    ...(Object.keys(UNAVAILABILITIES) as UnavailableReason[]).map(
      (reason) => new UpstreamUnavailableError('x', reason, 1),
    ),
    new MintThrottledError('x', 'caller_budget', 1, 'arn:aws:iam::111111111111:role/r'),
    new CircuitOpenError('x', 1, 0),
  ];
}

describe('the error codes', () => {
  it('are TVS_ERR_ names, each with a sentence of its own', () => {
    for (const code of CODES) expect(code).toMatch(/^TVS_ERR_[A-Z0-9_]+$/);
    const meanings = CODES.map((code) => errorCodeInfo(code).means);
    expect(new Set(meanings).size).toBe(CODES.length);
  });

  it('name each failure the service answers with the status and error it answers', () => {
    for (const failure of everyAnsweredFailure()) {
      const info = errorCodeInfo(failure.code);
      expect(info.from, failure.name).toBe('service');
      expect([info.status, info.error], failure.code).toEqual([failure.status, failure.error]);
      expect(failure).toBeInstanceOf(TvsError);
    }
  });

  it('are each a failure the service can answer with: no answered code without a class or a reason', () => {
    const reached = new Set<ErrorCode>([
      ...everyAnsweredFailure().map((failure) => failure.code),
      // Anything else thrown: the generic 500 of errorResponse.
      'TVS_ERR_INTERNAL',
    ]);
    const answered = CODES.filter((code) => errorCodeInfo(code).from === 'service');
    expect([...reached].sort()).toEqual(answered.sort());
  });

  it('are unique per failure: no two reasons share one', () => {
    const codes = [...Object.values(UPSTREAM_REJECTIONS), ...Object.values(UNAVAILABILITIES)];
    expect(new Set(codes).size).toBe(codes.length);
  });

  it('give every error of the service, its client and its command one base and a code of their own', () => {
    const internal: TvsError[] = [
      new ConfigError(['x']),
      new CredentialsError('x'),
      new StoreUnavailableError('x'),
      new SealedTokenError('x'),
      new LocalConfigError('file', ['x']),
      new RotationError('x'),
      new UsageError('x'),
      new TokenServiceError('TVS_ERR_UNREACHABLE', {
        status: 0,
        error: 'unreachable',
        error_description: 'x',
      }),
    ];
    for (const error of internal) {
      expect(error).toBeInstanceOf(TvsError);
      expect(Object.hasOwn(ERROR_CODES, error.code), error.name).toBe(true);
    }
    // Every error class the module exports descends from the one base.
    const classes = (Object.values(errors) as unknown[]).filter(
      (value): value is { name: string; prototype: object } =>
        typeof value === 'function' && value.prototype instanceof Error,
    );
    expect(classes.length).toBeGreaterThan(15);
    for (const errorClass of classes) {
      expect(errorClass === TvsError || errorClass.prototype instanceof TvsError, errorClass.name).toBe(true);
    }
  });

  it('are retryable exactly when the answer is a 503, or the front door throttled the call', () => {
    for (const code of CODES) {
      const failure = new TokenServiceError(code, { status: 0, error: 'x', error_description: 'x' });
      expect(failure.retryable, code).toBe(
        errorCodeInfo(code).status === 503 || code === 'TVS_ERR_THROTTLED',
      );
    }
  });
});

describe('codeOfAnswer', () => {
  it('takes the code an answer names when it fits the status', () => {
    expect(codeOfAnswer(503, 'temporarily_unavailable', 'TVS_ERR_CALLER_BUDGET')).toBe(
      'TVS_ERR_CALLER_BUDGET',
    );
    expect(codeOfAnswer(400, 'invalid_request', 'TVS_ERR_MIN_TTL_UNATTAINABLE')).toBe(
      'TVS_ERR_MIN_TTL_UNATTAINABLE',
    );
  });

  it('reads an answer without a code, or with one it does not know, by its status and error', () => {
    expect(codeOfAnswer(503, 'temporarily_unavailable')).toBe('TVS_ERR_UNAVAILABLE');
    expect(codeOfAnswer(503, 'temporarily_unavailable', 'TVS_ERR_SOMETHING_NEW')).toBe('TVS_ERR_UNAVAILABLE');
    expect(codeOfAnswer(502, 'server_error')).toBe('TVS_ERR_UPSTREAM_REFUSED');
    expect(codeOfAnswer(403, 'access_denied')).toBe('TVS_ERR_ACCESS_DENIED');
    expect(codeOfAnswer(400, 'invalid_scope')).toBe('TVS_ERR_INVALID_SCOPE');
    expect(codeOfAnswer(415, 'invalid_request')).toBe('TVS_ERR_UNSUPPORTED_MEDIA_TYPE');
    expect(codeOfAnswer(400, 'invalid_request')).toBe('TVS_ERR_INVALID_REQUEST');
    expect(codeOfAnswer(500, 'server_error')).toBe('TVS_ERR_INTERNAL');
    expect(codeOfAnswer(429, 'temporarily_unavailable')).toBe('TVS_ERR_THROTTLED');
    expect(codeOfAnswer(403, 'access_denied', 'TVS_ERR_FRONT_DOOR')).toBe('TVS_ERR_FRONT_DOOR');
    expect(codeOfAnswer(413, 'invalid_request')).toBe('TVS_ERR_FRONT_DOOR');
    // A named code of another status is not believed.
    expect(codeOfAnswer(503, 'temporarily_unavailable', 'TVS_ERR_ACCESS_DENIED')).toBe('TVS_ERR_UNAVAILABLE');
  });
});

describe('the documents', () => {
  it('list every code the service answers with in the OpenAPI error schema, and no other', () => {
    const openapi = JSON.parse(readFileSync(join(ROOT, 'docs', 'openapi.json'), 'utf8'));
    const schema = openapi.components.schemas.Error;
    expect(schema.required).toContain('code');
    expect(schema.properties.code.enum).toEqual([...SERVICE_ERROR_CODES]);
  });

  it('list every code in the contract with its status and error', () => {
    const contract = readFileSync(join(ROOT, 'docs', 'contract.md'), 'utf8');
    const rows = new Map(
      [...contract.matchAll(/^\| `(TVS_ERR_[A-Z0-9_]+)` \| ([^|]*) \|(.*)$/gm)].map((match) => [
        match[1] as string,
        `${(match[2] as string).trim()} |${match[3]}`,
      ]),
    );
    const listed = CODES.filter((code) => errorCodeInfo(code).from !== 'internal');
    expect([...rows.keys()].sort()).toEqual([...listed].sort());
    for (const code of listed) {
      const info = errorCodeInfo(code);
      const row = rows.get(code) as string;
      expect(row.startsWith(`${info.status ?? '—'} |`), `${code}: ${row}`).toBe(true);
      if (info.from !== 'client' && info.error !== undefined) {
        expect(row, code).toContain(`| \`${info.error}\` |`);
      }
    }
  });
});
