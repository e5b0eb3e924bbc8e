/**
 * The shape of one `tvs` command, shared by the caller commands of this package (`token`, `clients`) and
 * the service's own commands (`serve`, `dev`, `rotate`, `purge`, `validate`), which come with the
 * service's repository and are loaded from there when it is installed (see `tvs.ts`).
 */
import { UsageError } from '../contract/errors.js';

/** Where a command writes; injectable so the command can run in-process. */
export interface CommandIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
}

/** The options a command takes, as `node:util` `parseArgs` reads them. */
export type Options = Record<string, { type: 'string' | 'boolean' }>;

/** The options given, by name. */
export type Values = Record<string, string | boolean | undefined>;

/** One command: its synopsis (the usage line), what it does, and how it runs. */
export interface Command {
  readonly synopsis: string;
  readonly help: string;
  readonly options: Options;
  /** Whether `--json` is one of its options. */
  readonly json?: boolean;
  /** Whether it takes operands (`tvs validate FILE`). */
  readonly positionals?: boolean;
  /** Runs the command; resolves to the exit code. A mistake in the command line throws a `UsageError`. */
  readonly run: (values: Values, io: CommandIo, operands: string[]) => Promise<number>;
}

/** The string value of option `name`, if it was given one. */
export function text(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

/** A port number option (0–65535), else a usage error. */
export function portOption(values: Values, name: string, fallback: number): number {
  const raw = text(values, name) ?? String(fallback);
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port > 65535) throw new UsageError(`--${name} must be 0–65535`);
  return port;
}

export { UsageError };
