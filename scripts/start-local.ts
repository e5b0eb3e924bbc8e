/**
 * `npm start`: the Token Vending Service on this machine, no AWS account needed. Starts the Identity
 * Cloud simulator (`demo/simulator.json`) and `tvs serve` on the demo configuration
 * (`demo/tvs.config.json`, secrets in `demo/secrets.json`), both on 127.0.0.1, then prints a `tvs token`
 * command to paste into a second terminal. Ctrl-C stops both.
 *
 * Ports: `TVS_PORT` (default 8787) and `TVS_SIMULATOR_PORT` (default 8788). The demo configuration names
 * the simulator at 127.0.0.1:8788; another simulator port is written into the configuration at start.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { quietSdkNodeWarning } from '@tvs/local/node-version';
import { startLocalServer } from '@tvs/local/server';
import { parseSimulatorConfig, startIdentityCloudSimulator } from '@tvs/simulator/identity-cloud';

const DEMO_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'demo');
const DEMO_SIMULATOR_ORIGIN = 'http://127.0.0.1:8788';
const DEMO_CALLER = 'AKIDTVSLOCALDEMO0001';
const HOST = '127.0.0.1';

function portFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port > 65535) throw new Error(`${name} must be a port number, not ${raw}`);
  return port;
}

interface DemoDocument {
  clients: Record<string, { tokenEndpoint: string }>;
  local: { region?: string; callers: Record<string, { secretAccessKey: string }> };
}

async function main(): Promise<void> {
  const note = quietSdkNodeWarning();
  if (note) process.stderr.write(note);
  const port = portFromEnv('TVS_PORT', 8787);
  const simulatorPort = portFromEnv('TVS_SIMULATOR_PORT', 8788);
  const document = JSON.parse(await readFile(join(DEMO_DIR, 'tvs.config.json'), 'utf8')) as DemoDocument;
  const simulatorOptions = parseSimulatorConfig(
    JSON.parse(await readFile(join(DEMO_DIR, 'simulator.json'), 'utf8')),
  );

  const simulator = await startIdentityCloudSimulator({
    ...simulatorOptions,
    host: HOST,
    port: simulatorPort,
  });
  process.stdout.write(`identity-cloud simulator listening on ${simulator.url}\n`);
  for (const client of Object.values(document.clients)) {
    if (client.tokenEndpoint.startsWith(`${DEMO_SIMULATOR_ORIGIN}/`)) {
      client.tokenEndpoint = simulator.url + client.tokenEndpoint.slice(DEMO_SIMULATOR_ORIGIN.length);
    }
  }

  let server: Awaited<ReturnType<typeof startLocalServer>>;
  try {
    server = await startLocalServer({ config: document, configDir: DEMO_DIR, host: HOST, port });
  } catch (error) {
    await simulator.close();
    throw error;
  }
  process.stdout.write(`listening on ${server.url}\n`);

  const caller = document.local.callers[DEMO_CALLER];
  const region = document.local.region ?? 'us-east-1';
  process.stdout.write(
    [
      '',
      `Token Vending Service (${server.mode}) with the Identity Cloud simulator. Get a token from a second`,
      'terminal, in this folder (the demo caller below is a local credential, not an AWS key):',
      '',
      `  AWS_ACCESS_KEY_ID=${DEMO_CALLER} AWS_SECRET_ACCESS_KEY=${caller?.secretAccessKey} AWS_REGION=${region} npx tvs token --endpoint ${server.url} --client webhooks-us --scope '.:webhooks/**'`,
      '',
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );

  // Handlers stay installed: Ctrl-C or a process-group SIGTERM reaches this process more than once (from
  // the terminal or sender, and relayed by npm and tsx), and a second signal must not kill it mid-close.
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    Promise.allSettled([server.close(), simulator.close()]).then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  const code = (error as { code?: string }).code;
  const hint = code === 'EADDRINUSE' ? ' (set TVS_PORT / TVS_SIMULATOR_PORT to use other ports)' : '';
  process.stderr.write(`npm start: ${error instanceof Error ? error.message : String(error)}${hint}\n`);
  process.exit(1);
});
