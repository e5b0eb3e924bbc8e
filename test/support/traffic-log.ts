import { createHash, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    trafficDir: string;
  }
}

/** What one test file's servers said, and every token and secret that passed through them. */
export interface Traffic {
  /** Where it came from, for the report. */
  readonly source: string;
  /** Captured log output: stdout and stderr of the handler, a server or the CLI. */
  readonly logs: string;
  /** Every error body sent to a caller (a 200 carries its token by design). */
  readonly bodies: readonly string[];
  /** Every access token Identity Cloud (the simulator, oidc-provider) issued. */
  readonly tokens: readonly string[];
  /** Every client secret in play: the real ones, rotated ones, wrong ones. */
  readonly secrets: readonly string[];
}

/** Record a test file's traffic for the suite-wide leak scan run by the global teardown. */
export function recordTraffic(traffic: Traffic): void {
  writeFileSync(join(inject('trafficDir'), `${randomUUID()}.json`), JSON.stringify(traffic));
}

/** A leak: which value (by fingerprint, never the value) was found where. */
export interface Leak {
  readonly kind: 'token' | 'secret';
  readonly fingerprint: string;
  readonly source: string;
  readonly where: 'logs' | 'body';
}

export interface LeakScan {
  readonly files: number;
  readonly tokens: number;
  readonly secrets: number;
  readonly bytes: number;
  readonly leaks: readonly Leak[];
}

/** The forms a value could take in a log line: as is, URL-encoded, Base64 and JSON-escaped. */
function forms(value: string): string[] {
  return [
    value,
    encodeURIComponent(value),
    Buffer.from(value).toString('base64'),
    JSON.stringify(value).slice(1, -1),
  ];
}

/**
 * Search every recorded log and body for every recorded token and secret, across all test files: a
 * token issued in one file must not show up anywhere, in that file's output or another's.
 */
export function scanTraffic(dir: string): LeakScan {
  const traffic = readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .map((name) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as Traffic);
  const tokens = new Set(traffic.flatMap((t) => t.tokens));
  const secrets = new Set(traffic.flatMap((t) => t.secrets));
  const leaks: Leak[] = [];
  let bytes = 0;
  for (const record of traffic) {
    const places = [
      { where: 'logs' as const, text: record.logs },
      { where: 'body' as const, text: record.bodies.join('\n') },
    ];
    for (const place of places) {
      bytes += place.text.length;
      for (const [kind, values] of [
        ['token', tokens],
        ['secret', secrets],
      ] as const) {
        for (const value of values) {
          if (forms(value).some((form) => place.text.includes(form))) {
            const fingerprint = createHash('sha256').update(value).digest('hex').slice(0, 16);
            leaks.push({ kind, fingerprint, source: record.source, where: place.where });
          }
        }
      }
    }
  }
  return { files: traffic.length, tokens: tokens.size, secrets: secrets.size, bytes, leaks };
}
