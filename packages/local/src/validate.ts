/**
 * `tvs validate FILE`: check a configuration file with the service's own parser (the one `cdk synth` and
 * cold start run), and its `local` section with the local server's, without starting anything. Invalid
 * JSON is reported with its line and column; every other problem with its path in the document.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError, LocalConfigError } from '@tvs/client/contract';
import { JsonSyntaxError, parseJsonText } from '@tvs/core/config/json-text';
import { parseServiceConfigText } from '@tvs/core/config/service-config';
import { parseLocalSection, unadmittedGrantProblems } from './local-config.js';

/** One problem: where (a document path, or `line:column` of invalid JSON) and what. */
export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
  /** For invalid JSON. */
  readonly line?: number;
  readonly column?: number;
}

/** What `tvs validate` found. */
export type ValidationReport =
  | {
      readonly valid: true;
      readonly file: string;
      readonly clients: number;
      readonly grants: number;
      readonly rotated: number;
      readonly local: boolean;
    }
  | { readonly valid: false; readonly file: string; readonly problems: readonly ConfigProblem[] };

/** `path: message` as the parsers write each problem. */
function splitProblem(problem: string): ConfigProblem {
  const at = problem.indexOf(': ');
  return at < 0
    ? { path: '(document)', message: problem }
    : { path: problem.slice(0, at), message: problem.slice(at + 2) };
}

/** Validate the configuration file at `file`; never throws for a problem of the file itself. */
export async function validateConfigFile(file: string): Promise<ValidationReport> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code ?? 'read error';
    return { valid: false, file, problems: [{ path: '(file)', message: `cannot read the file (${code})` }] };
  }
  let document: unknown;
  try {
    document = parseJsonText(text);
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    const { line, column, message } = error.problem;
    return {
      valid: false,
      file,
      problems: [{ path: '(document)', line, column, message: `not valid JSON: ${message}` }],
    };
  }
  const problems: ConfigProblem[] = [];
  let summary: { clients: number; grants: number; rotated: number } | undefined;
  let grants: readonly { readonly principal: string }[] | undefined;
  try {
    // The text, not the parsed document: the parser's checks of the text itself apply too.
    const config = parseServiceConfigText(text);
    grants = config.document.grants;
    const clients = Object.values(config.document.clients);
    summary = {
      clients: clients.length,
      grants: config.document.grants.length,
      rotated: clients.filter((client) => client.rotation !== undefined).length,
    };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems.map(splitProblem));
  }
  const hasLocal = typeof document === 'object' && document !== null && 'local' in document;
  if (hasLocal) {
    try {
      const local = parseLocalSection(document, dirname(resolve(file)), file);
      // As `tvs serve` refuses to start with them.
      if (grants) problems.push(...unadmittedGrantProblems(grants, local).map(splitProblem));
    } catch (error) {
      if (!(error instanceof LocalConfigError)) throw error;
      problems.push(...error.problems.map(splitProblem));
    }
  }
  if (problems.length > 0 || summary === undefined) return { valid: false, file, problems };
  return { valid: true, file, ...summary, local: hasLocal };
}

/** The report as `tvs validate` prints it without `--json`: one line when valid, a line per problem. */
export function formatValidation(report: ValidationReport): string {
  if (report.valid) {
    const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;
    const parts = [plural(report.clients, 'client'), plural(report.grants, 'grant')];
    if (report.rotated > 0) parts.push(`${report.rotated} rotated`);
    if (report.local) parts.push('a local section');
    return `${report.file}: valid (${parts.join(', ')})\n`;
  }
  return report.problems
    .map((problem) =>
      problem.line === undefined
        ? `${report.file}: ${problem.path}: ${problem.message}\n`
        : `${report.file}:${problem.line}:${problem.column}: ${problem.message}\n`,
    )
    .join('');
}
