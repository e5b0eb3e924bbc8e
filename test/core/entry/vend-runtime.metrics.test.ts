import { Metrics } from '@aws-lambda-powertools/metrics';
import { powertoolsMetrics } from '@tvs/core/entry/vend-runtime';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OutputCapture } from '../../support/harness';

describe('powertoolsMetrics', () => {
  const capture = new OutputCapture();
  let disabled: string | undefined;

  beforeEach(() => {
    disabled = process.env.POWERTOOLS_METRICS_DISABLED;
    process.env.POWERTOOLS_METRICS_DISABLED = 'false';
    capture.chunks.length = 0;
    capture.start();
  });

  afterEach(() => {
    capture.stop();
    process.env.POWERTOOLS_METRICS_DISABLED = disabled;
  });

  it('writes one EMF line with the counted metrics', () => {
    const metrics = powertoolsMetrics(
      new Metrics({ namespace: 'TokenVendingServiceTest', serviceName: 'tvs' }),
    );
    metrics.count('TokenVended');
    metrics.count('CacheHit');
    metrics.flush();
    const lines = capture.lines.filter((line) => '_aws' in line);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ TokenVended: 1, CacheHit: 1, service: 'tvs' });
  });

  it('writes MintThrottled once more by spender, as a metric of its own with that dimension', () => {
    const metrics = powertoolsMetrics(
      new Metrics({ namespace: 'TokenVendingServiceTest', serviceName: 'tvs' }),
    );
    metrics.count('MintThrottled');
    metrics.countBy?.('MintThrottled', 'spender', 'arn:aws:iam::111111111111:role/team-*');
    metrics.flush();
    const lines = capture.lines.filter((line) => '_aws' in line);
    expect(lines).toHaveLength(2);
    expect(lines).toContainEqual(
      expect.objectContaining({
        MintThrottled: 1,
        service: 'tvs',
        spender: 'arn:aws:iam::111111111111:role/team-*',
      }),
    );
    expect(lines).toContainEqual(expect.not.objectContaining({ spender: expect.anything() }));
  });

  it('writes nothing, not even a warning, when a request counted no metric', () => {
    const metrics = powertoolsMetrics(
      new Metrics({ namespace: 'TokenVendingServiceTest', serviceName: 'tvs' }),
    );
    metrics.flush();
    expect(capture.text).toBe('');
  });
});
