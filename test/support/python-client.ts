/**
 * The Python client (`clients/python`) installed as a user installs it — `pip install ./clients/python` —
 * into a virtual environment of its own in a temporary folder (`--system-site-packages`, so the machine's
 * botocore and pytest are used and nothing global changes). Shared by the tests that run Python.
 */
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT, spawnChild, tempDir } from './processes';

/** A virtual environment with the client installed. */
export interface PythonClientEnv {
  /** The environment's `python`. */
  readonly python: string;
  remove(): Promise<void>;
}

async function run(command: string, args: string[], cwd: string): Promise<void> {
  const child = spawnChild(command, args, {
    env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1', PYTHONDONTWRITEBYTECODE: '1' },
    cwd,
  });
  const code = await child.exited;
  if (code !== 0) {
    throw new Error(
      `${[command, ...args].join(' ')} exited with ${code}:\n${child.stdout()}\n${child.stderr()}`,
    );
  }
}

/** Make the environment and install the client into it (a few seconds). */
export async function installPythonClient(): Promise<PythonClientEnv> {
  const dir = await tempDir();
  const venv = join(dir.path, 'venv');
  await run('python3', ['-m', 'venv', '--system-site-packages', venv], dir.path);
  const python = join(venv, 'bin', 'python');
  // pip builds in the folder it is given: a copy of the package, so the work tree gains no build/ folder.
  const source = join(dir.path, 'tvs-client');
  await cp(join(ROOT, 'clients', 'python'), source, {
    recursive: true,
    filter: (path) => !/(__pycache__|\.egg-info|[/\\]build)$/.test(path),
  });
  await run(python, ['-m', 'pip', 'install', '--quiet', source], dir.path);
  return { python, remove: dir.remove };
}
