/**
 * The README's quickstart, run as written: `npm start`, then the `tvs token` command it prints, pasted
 * into a shell. `npm ci` is not run (the test runs inside an installed tree; replacing node_modules under
 * a running test would break it). Ports are chosen free through `TVS_PORT`/`TVS_SIMULATOR_PORT`, the
 * only difference from the README's text, which is substituted back before comparing.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Child, childEnv, closedPort, ROOT, spawnChild } from '../support/processes';

/** The README's quickstart section. */
function quickstart(): string {
  const text = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const match = /<!-- quickstart:start -->([\s\S]*?)<!-- quickstart:end -->/.exec(text);
  if (!match?.[1])
    throw new Error(
      'README.md has no quickstart section (<!-- quickstart:start --> … <!-- quickstart:end -->)',
    );
  return match[1];
}

/** The fenced blocks of a Markdown text, with their info string. */
function fences(markdown: string): { lang: string; body: string }[] {
  return [...markdown.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({
    lang: m[1] ?? '',
    body: m[2] ?? '',
  }));
}

let npmStart: Child | undefined;

/** Whether any process of the group `pgid` is still alive. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stopGroup(child: Child): Promise<void> {
  if (groupAlive(child.pid)) process.kill(-child.pid, 'SIGTERM');
  await Promise.race([child.exited, new Promise((resolve) => setTimeout(resolve, 8_000))]);
  const deadline = Date.now() + 5_000;
  while (groupAlive(child.pid) && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 50));
  if (groupAlive(child.pid)) process.kill(-child.pid, 'SIGKILL');
}

afterAll(async () => {
  if (npmStart) await stopGroup(npmStart);
});

describe('the README quickstart', () => {
  it('prints a token from the command npm start prints, and npm start stops on SIGTERM', async () => {
    const blocks = fences(quickstart());
    const commands = blocks.filter((block) => block.lang === 'sh');
    const outputs = blocks.filter((block) => block.lang === 'text');
    expect(commands[0]?.body.trim()).toBe('npm ci && npm start');
    const readmeTokenCommand = commands[1]?.body.trim() as string;
    const [readmeStartOutput, readmeTokenOutput] = outputs.map((block) => block.body);
    const port = await closedPort();
    let simulatorPort = await closedPort();
    while (simulatorPort === port) simulatorPort = await closedPort();
    const withPorts = (text: string) =>
      text
        .replaceAll('127.0.0.1:8787', `127.0.0.1:${port}`)
        .replaceAll('127.0.0.1:8788', `127.0.0.1:${simulatorPort}`);

    // `npm start` as the group leader, so one SIGTERM to the group reaches npm, tsx and the server.
    npmStart = spawnChild('npm', ['start'], {
      env: childEnv({ TVS_PORT: String(port), TVS_SIMULATOR_PORT: String(simulatorPort) }),
      detached: true,
    });
    const printed = (await npmStart.waitFor(/^ +AWS_ACCESS_KEY_ID=.* npx tvs token .*$/, 30_000))[0].trim();
    const token = spawnChild('bash', ['-c', printed], { env: childEnv() });
    const code = await token.exited;

    expect(printed).toBe(withPorts(readmeTokenCommand));
    for (const line of withPorts(readmeStartOutput ?? '')
      .split('\n')
      .filter((l) => l.trim() !== '')) {
      expect(npmStart.stdout()).toContain(line);
    }
    expect({ code, stderr: token.stderr().replace(/^npm warn .*\n/gm, '') }).toEqual({ code: 0, stderr: '' });
    expect(token.stdout()).toMatch(/^[A-Za-z0-9_-]{64}\n$/);
    expect(readmeTokenOutput).toMatch(/^[A-Za-z0-9_-]{64}\n$/);

    await stopGroup(npmStart);
    // The server exits 0; npm reports the signal its `sh -c` died of, which is npm's business.
    expect([0, 'SIGTERM']).toContain(await npmStart.exited);
    expect(npmStart.stderr()).not.toMatch(/^npm start: /m);
    expect(groupAlive(npmStart.pid)).toBe(false);
    expect(
      await fetch(`http://127.0.0.1:${port}/v1/clients`).catch((error: unknown) => error),
    ).toBeInstanceOf(Error);
  });
});
