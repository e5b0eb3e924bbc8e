/** `tvs serve` as a child process of the bench, and how it is stopped. */
import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort } from '../test/support/moto';
import { TVS_FROM_SOURCE } from '../test/support/processes';

const ROOT = resolve(import.meta.dirname, '..');

/** A `tvs serve` child process and the JSON log lines it printed. */
export interface ServeProcess {
  readonly url: string;
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[];
}

export async function startServe(configPath: string, env: NodeJS.ProcessEnv): Promise<ServeProcess> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [...TVS_FROM_SOURCE, 'serve', '--config', configPath, '--port', String(port)],
    { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: Record<string, unknown>[] = [];
  const url = await new Promise<string>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error('tvs serve did not start within 60 s')), 60_000);
    child.once('exit', (code) => reject(new Error(`tvs serve exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('listening on ')) {
        clearTimeout(timer);
        resolvePromise(line.slice('listening on '.length).trim());
      } else if (line.startsWith('{')) {
        try {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not a log line
        }
      }
    });
    child.stderr?.resume();
  });
  return { url, child, lines };
}

export function stop(child: ChildProcess): Promise<void> {
  return new Promise((done) => {
    if (child.exitCode !== null || !child.pid) return done();
    child.once('exit', () => done());
    process.kill(child.pid, 'SIGTERM');
    setTimeout(
      () => child.pid && child.exitCode === null && process.kill(child.pid, 'SIGKILL'),
      5_000,
    ).unref();
  });
}
