import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { powertoolsMetrics } from '../../lambdas/vend-token/runtime';
import { OutputCapture } from '../support/harness';

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

  it('writes nothing, not even a warning, when a request counted no metric', () => {
    const metrics = powertoolsMetrics(
      new Metrics({ namespace: 'TokenVendingServiceTest', serviceName: 'tvs' }),
    );
    metrics.flush();
    expect(capture.text).toBe('');
  });
});
