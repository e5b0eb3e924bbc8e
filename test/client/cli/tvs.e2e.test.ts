/**
 * The conventions of the `tvs` command (docs/cli.md), through the real CLI as a child process:
 * `--version`, per-command help, short usage lines, JSON errors under `--json`, the host and cause when
 * the service cannot be reached, endpoints other than http(s) refused, and `tvs validate`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, ORDERS, ROOT, runCli, tempDir } from '../../support/processes';

let dir: { path: string; remove: () => Promise<void> };

beforeAll(async () => {
  dir = await tempDir();
});

afterAll(async () => {
  await dir?.remove();
});

const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
const COMMANDS = ['token', 'clients', 'serve', 'dev', 'rotate', 'purge', 'validate'];

describe('tvs --version and help', () => {
  it('prints the package version', async () => {
    for (const flag of ['--version', '-V']) {
      expect(await runCli([flag], undefined)).toEqual({ code: 0, stdout: `tvs ${version}\n`, stderr: '' });
    }
  });

  it('prints each command its own help on stdout, exit 0', async () => {
    for (const command of COMMANDS) {
      const run = await runCli([command, '--help'], undefined);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(new RegExp(`^usage: tvs ${command} `));
      expect(run.stdout).toContain('Exit codes:');
      expect(run.stdout).not.toMatch(/^ {2}tvs (?!${command})\w+ /m);
    }
    const all = await runCli(['--help'], undefined);
    for (const command of COMMANDS) expect(all.stdout).toContain(`  tvs ${command} `);
  });

  it('is the usage docs/cli.md shows', async () => {
    const page = readFileSync(join(ROOT, 'docs', 'cli.md'), 'utf8');
    const shown = /```text\n(usage: tvs <command> \[options\][\s\S]*?)```/.exec(page)?.[1] as string;
    const printed = (await runCli(['--help'], undefined)).stdout;

    expect(shown).toBeDefined();
    expect(printed.startsWith(shown)).toBe(true);
  });
});

describe('usage errors', () => {
  it('print the message and the command usage line only, exit 2', async () => {
    const run = await runCli(['token', '--endpoint', 'http://127.0.0.1:8787', '--client', 'x'], ORDERS);

    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines).toEqual([
      'tvs: --scope is required',
      expect.stringMatching(/^usage: tvs token --endpoint URL --client NAME --scope SCOPE /),
      "Run 'tvs token --help' for more.",
    ]);
  });

  it('refuse an endpoint that is not http(s) before sending anything', async () => {
    for (const endpoint of ['ftp://tvs.example/', 'file:///etc/passwd', 'not a url']) {
      const run = await runCli(['clients', '--endpoint', endpoint], ORDERS);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/^tvs: --endpoint (must be an http:\/\/ or https:\/\/ URL|is not a URL)/);
    }
  });

  it('are one JSON object on stderr under --json', async () => {
    const run = await runCli(['token', '--endpoint', 'ftp://tvs.example/', '--json'], ORDERS);

    expect(run.code).toBe(2);
    expect(JSON.parse(run.stderr)).toEqual({
      error: 'usage',
      error_description: '--endpoint must be an http:// or https:// URL, not ftp://…',
      code: 'TVS_ERR_USAGE',
      usage: expect.stringMatching(/^tvs token /),
    });
  });

  it('name an unknown command', async () => {
    const run = await runCli(['tokens'], undefined);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^tvs: unknown command "tokens"\nusage: tvs <command> \[options\]\n/);
  });
});

describe('a service that cannot be reached', () => {
  it('is named with its host and the cause, exit 1', async () => {
    const port = await closedPort();
    const endpoint = `http://127.0.0.1:${port}`;
    const plain = await runCli(['clients', '--endpoint', endpoint], ORDERS);
    const json = await runCli(['clients', '--endpoint', endpoint, '--json'], ORDERS);

    expect(plain.code).toBe(1);
    expect(plain.stderr).toBe(
      `tvs: the token service at 127.0.0.1:${port} could not be reached: ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:${port}\n`,
    );
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stderr)).toEqual({
      error: 'unreachable',
      error_description: `the token service at 127.0.0.1:${port} could not be reached`,
      code: 'TVS_ERR_UNREACHABLE',
      host: `127.0.0.1:${port}`,
      cause: `ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:${port}`,
    });
  });
});

describe('tvs validate', () => {
  const write = async (name: string, text: string) => {
    const { writeFile } = await import('node:fs/promises');
    const path = join(dir.path, name);
    await writeFile(path, text);
    return path;
  };

  it('prints a one-line summary of a valid file, exit 0, as docs/cli.md shows', async () => {
    const run = await runCli(['validate', 'config/tvs.config.json'], undefined);
    expect(readFileSync(join(ROOT, 'docs', 'cli.md'), 'utf8')).toContain(`\n${run.stdout}`);
    expect(run).toEqual({
      code: 0,
      stdout: 'config/tvs.config.json: valid (2 clients, 1 grant, 2 rotated)\n',
      stderr: '',
    });
    const demo = await runCli(['validate', 'demo/tvs.config.json', '--json'], undefined);
    expect(JSON.parse(demo.stdout)).toEqual({
      valid: true,
      file: 'demo/tvs.config.json',
      clients: 2,
      grants: 4,
      rotated: 0,
      local: true,
    });
  });

  it('prints every problem with its path, exit 1', async () => {
    const path = await write(
      'problems.json',
      JSON.stringify({
        clients: { Bad: { tokenEndpoint: 'ftp://x/login/token', secretId: 's', allowedScopes: ['*:**'] } },
        grants: [{ principal: 'arn:aws:iam::123456789012:role/r', client: 'nobody', scopes: ['*:**'] }],
        local: { callers: {} },
      }),
    );
    const run = await runCli(['validate', path], undefined);

    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr.trimEnd().split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^${path}: clients\\.Bad: client name must match`)),
      `${path}: clients.Bad.tokenEndpoint: must use https, not "ftp:"`,
      `${path}: grants[0].client: unknown client "nobody"`,
      expect.stringMatching(new RegExp(`^${path}: local\\.callers: must map at least one access key id`)),
    ]);
  });

  it('names the line and column of invalid JSON, and never echoes the file', async () => {
    const path = await write('broken.json', '{\n  "clients": {\n    "a": "hunter2-secret"\n  },,\n}\n');
    const plain = await runCli(['validate', path], undefined);
    const json = await runCli(['validate', path, '--json'], undefined);

    expect(plain).toEqual({
      code: 1,
      stdout: '',
      stderr: `${path}:4:5: not valid JSON: expected a property name in double quotes, found ","\n`,
    });
    expect(JSON.parse(json.stdout).problems).toEqual([
      {
        path: '(document)',
        line: 4,
        column: 5,
        message: 'not valid JSON: expected a property name in double quotes, found ","',
      },
    ]);
    expect(plain.stderr + json.stdout).not.toContain('hunter2');
  });

  it('reports a file it cannot read, and takes exactly one file', async () => {
    const missing = await runCli(['validate', join(dir.path, 'absent.json')], undefined);
    const none = await runCli(['validate'], undefined);

    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot read the file (ENOENT)');
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^tvs: give one configuration file\nusage: tvs validate FILE/);
  });
});
