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

type ConfigGrants = readonly { readonly principal: string }[];

/** What the service's parser made of the text: the counts `tvs validate` prints, or its problems. */
interface ServiceCheck {
  readonly summary?: { readonly clients: number; readonly grants: number; readonly rotated: number };
  readonly grants?: ConfigGrants;
  readonly problems: readonly ConfigProblem[];
}

async function readConfigText(file: string): Promise<{ text: string } | { problem: ConfigProblem }> {
  try {
    return { text: await readFile(file, 'utf8') };
  } catch (error) {
    const code = (error as { code?: string }).code ?? 'read error';
    return { problem: { path: '(file)', message: `cannot read the file (${code})` } };
  }
}

function parseConfigDocument(text: string): { document: unknown } | { problem: ConfigProblem } {
  try {
    return { document: parseJsonText(text) };
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    const { line, column, message } = error.problem;
    return { problem: { path: '(document)', line, column, message: `not valid JSON: ${message}` } };
  }
}

function checkService(text: string): ServiceCheck {
  try {
    // The text, not the parsed document: the parser's checks of the text itself apply too.
    const config = parseServiceConfigText(text);
    const clients = Object.values(config.document.clients);
    return {
      summary: {
        clients: clients.length,
        grants: config.document.grants.length,
        rotated: clients.filter((client) => client.rotation !== undefined).length,
      },
      grants: config.document.grants,
      problems: [],
    };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return { problems: error.problems.map(splitProblem) };
  }
}

/** The `local` section's problems, and the grants it would not admit when the service's parse gave them. */
function checkLocal(document: unknown, file: string, grants: ConfigGrants | undefined): ConfigProblem[] {
  try {
    const local = parseLocalSection(document, dirname(resolve(file)), file);
    // As `tvs serve` refuses to start with them.
    return grants ? unadmittedGrantProblems(grants, local).map(splitProblem) : [];
  } catch (error) {
    if (!(error instanceof LocalConfigError)) throw error;
    return error.problems.map(splitProblem);
  }
}

/** Validate the configuration file at `file`; never throws for a problem of the file itself. */
export async function validateConfigFile(file: string): Promise<ValidationReport> {
  const read = await readConfigText(file);
  if ('problem' in read) return { valid: false, file, problems: [read.problem] };
  const parsed = parseConfigDocument(read.text);
  if ('problem' in parsed) return { valid: false, file, problems: [parsed.problem] };
  const { document } = parsed;
  const service = checkService(read.text);
  const hasLocal = typeof document === 'object' && document !== null && 'local' in document;
  const problems = [...service.problems, ...(hasLocal ? checkLocal(document, file, service.grants) : [])];
  if (problems.length > 0 || service.summary === undefined) return { valid: false, file, problems };
  return { valid: true, file, ...service.summary, local: hasLocal };
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
