import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/** moto's own server application with one lock around each request: see the file for why. */
const SERIALIZED_MOTO = fileURLToPath(new URL('./moto_serialized.py', import.meta.url));

/** A moto server this process started. */
export interface MotoServer {
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

const INSTALL_HINT =
  'moto server is required for the integration tests and was not found on PATH.\n' +
  'Install it with:  pip install "moto[server]"   (then `moto_server --help` must work)';

/** Fail loudly, with the install command, when moto server is not installed. */
export function assertMotoInstalled(): void {
  const probe = spawnSync('moto_server', ['--help'], { stdio: 'ignore' });
  if (probe.error || probe.status !== 0) throw new Error(INSTALL_HINT);
}

/**
 * Start moto's server on 127.0.0.1 — the application `moto_server` runs, with its requests serialized so
 * that conditional writes are atomic as in DynamoDB (`moto_serialized.py`) — and wait until it answers.
 * Stop it by its process id.
 */
export async function startMoto(): Promise<MotoServer> {
  assertMotoInstalled();
  const port = await freePort();
  const child: ChildProcess = spawn('python3', [SERIALIZED_MOTO, '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: false,
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto server exited early (${child.exitCode}): ${stderr}`);
    try {
      const answer = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1000) });
      await answer.arrayBuffer();
      if (answer.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      if (child.pid) process.kill(child.pid, 'SIGKILL');
      throw new Error(`moto server did not start within 30 s: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    endpoint,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || !child.pid) return resolve();
        child.once('exit', () => resolve());
        process.kill(child.pid, 'SIGTERM');
        setTimeout(() => {
          if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
        }, 3000).unref();
      }),
  };
}
