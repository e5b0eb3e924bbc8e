/**
 * `tvs validate FILE`: check a configuration file with the service's own parser (the one `cdk synth` and
 * cold start run), and its `local` section with the local server's, without starting anything. Invalid
 * JSON is reported with its line and column; every other problem with its path in the document.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError, JsonSyntaxError, LocalConfigError } from '@tvs/client/contract';
import { type JsonDocument, readJsonText } from '@tvs/core/config/json-text';
import { parseServiceConfig, strictConfigDocument } from '@tvs/core/config/service-config';
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
  const read = await readConfigJson(file);
  if ('problem' in read) return { valid: false, file, problems: [read.problem] };
  const document = read.json.value;
  const service = checkServiceDocument(read.json);
  const hasLocal = typeof document === 'object' && document !== null && 'local' in document;
  const problems = hasLocal
    ? [...service.problems, ...checkLocalSection(document, file, service.grants)]
    : service.problems;
  if (problems.length > 0 || service.summary === undefined) return { valid: false, file, problems };
  return { valid: true, file, ...service.summary, local: hasLocal };
}

/** The file's JSON, or the one problem that ends validation: it cannot be read, or is not valid JSON. */
async function readConfigJson(file: string): Promise<{ json: JsonDocument } | { problem: ConfigProblem }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code ?? 'read error';
    return { problem: { path: '(file)', message: `cannot read the file (${code})` } };
  }
  try {
    return { json: readJsonText(text) };
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    const { line, column, message } = error.problem;
    return { problem: { path: '(document)', line, column, message: `not valid JSON: ${message}` } };
  }
}

/** What the service's own parser found in the document: its problems, or what it holds. */
interface ServiceDocumentCheck {
  readonly problems: ConfigProblem[];
  readonly summary?: { readonly clients: number; readonly grants: number; readonly rotated: number };
  readonly grants?: readonly { readonly principal: string }[];
}

function checkServiceDocument(json: JsonDocument): ServiceDocumentCheck {
  try {
    // Strictly, as synth and the cold start read it: a key given twice is a problem too.
    const { document } = parseServiceConfig(strictConfigDocument(json));
    const clients = Object.values(document.clients);
    return {
      problems: [],
      grants: document.grants,
      summary: {
        clients: clients.length,
        grants: document.grants.length,
        rotated: clients.filter((client) => client.rotation !== undefined).length,
      },
    };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return { problems: error.problems.map(splitProblem) };
  }
}

/** The `local` section's problems, and the grants `tvs serve` would refuse to start with. */
function checkLocalSection(
  document: object,
  file: string,
  grants: readonly { readonly principal: string }[] | undefined,
): ConfigProblem[] {
  try {
    const local = parseLocalSection(document, dirname(resolve(file)), file);
    return grants ? unadmittedGrantProblems(grants, local).map(splitProblem) : [];
  } catch (error) {
    if (!(error instanceof LocalConfigError)) throw error;
    return error.problems.map(splitProblem);
  }
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
