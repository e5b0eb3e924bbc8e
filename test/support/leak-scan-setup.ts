import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { scanTraffic } from './traffic-log';

/**
 * The suite-wide leak scan of one vitest project: every test file that runs servers records their logs,
 * answer bodies, issued tokens and secrets (`recordTraffic`), and at the end every token and secret is
 * searched for in all of it. A hit fails the run (vitest ignores errors thrown here, so the exit code is
 * set instead).
 */
export default function setup(project: TestProject) {
  const trafficDir = mkdtempSync(join(tmpdir(), 'tvs-traffic-'));
  project.provide('trafficDir', trafficDir);
  return () => {
    const scan = scanTraffic(trafficDir);
    rmSync(trafficDir, { recursive: true, force: true });
    if (scan.files === 0) return;
    const summary =
      `leak scan (${project.name}): ${scan.tokens} tokens and ${scan.secrets} secrets searched for in ` +
      `${Math.round(scan.bytes / 1024)} KiB of logs and answer bodies from ${scan.files} test servers`;
    if (scan.leaks.length > 0 || scan.tokens === 0) {
      process.stderr.write(`\n${summary}: FAILED\n`);
      for (const leak of scan.leaks) {
        process.stderr.write(
          `  ${leak.kind} sha256:${leak.fingerprint}… found in ${leak.where} of ${leak.source}\n`,
        );
      }
      if (scan.tokens === 0) process.stderr.write('  no token was recorded: the scan would prove nothing\n');
      process.exitCode = 1;
    } else {
      process.stderr.write(`\n${summary}: 0 hits\n`);
    }
  };
}
