/**
 * Runs the Identity Cloud simulator as a process:
 * `tsx packages/simulator/src/main.ts --port N --config FILE [--latency-ms MS]`.
 *
 * Prints `identity-cloud simulator listening on http://127.0.0.1:PORT` once it listens (other processes
 * wait for that line) and stops on SIGINT or SIGTERM. The config format is {@link parseSimulatorConfig}'s.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

import { parseSimulatorConfig, startIdentityCloudSimulator } from './identity-cloud.js';

const USAGE = 'usage: tsx packages/simulator/src/main.ts --config FILE [--port N] [--latency-ms MS]';

function nonNegativeNumber(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number ≥ 0`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      config: { type: 'string' },
      'latency-ms': { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (values.config === undefined) throw new Error(`--config is required\n${USAGE}`);

  const port = nonNegativeNumber('port', values.port);
  if (port !== undefined && (!Number.isInteger(port) || port > 65535))
    throw new Error('--port must be 0–65535');
  const latencyMs = nonNegativeNumber('latency-ms', values['latency-ms']);

  let document: unknown;
  try {
    document = JSON.parse(await readFile(values.config, 'utf8'));
  } catch (error) {
    // The file holds client secrets: name the problem, never echo the content.
    const reason = error instanceof SyntaxError ? 'not valid JSON' : (error as Error).message;
    throw new Error(`cannot read config ${values.config}: ${reason}`);
  }
  const options = parseSimulatorConfig(document);
  if (port !== undefined) options.port = port;
  if (latencyMs !== undefined) options.latencyMs = latencyMs;

  const simulator = await startIdentityCloudSimulator(options);
  process.stdout.write(`identity-cloud simulator listening on ${simulator.url}\n`);

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    simulator.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `identity-cloud simulator: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
