/**
 * A JSON Schema checker for the subset `docs/openapi.json` uses: `$ref` (local), `type`, `const`, `enum`,
 * `properties`, `required`, `additionalProperties: false`, `items`, `minLength`, `maxLength`, `minimum`,
 * `maximum`, `pattern`, `format: date-time`, `oneOf`. A keyword outside the subset is an error, so the
 * document cannot silently outgrow what is checked.
 */

type Schema = Record<string, unknown>;

const KNOWN = new Set([
  '$ref',
  'type',
  'const',
  'enum',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'pattern',
  'format',
  'oneOf',
  'description',
]);

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/** Resolve a local `$ref` (`#/components/...`) in `root`. */
export function resolveRef(root: unknown, ref: string): Schema {
  if (!ref.startsWith('#/')) throw new Error(`only local $ref is supported: ${ref}`);
  let node: unknown = root;
  for (const part of ref.slice(2).split('/')) node = (node as Record<string, unknown>)[part];
  if (typeof node !== 'object' || node === null) throw new Error(`$ref ${ref} resolves to nothing`);
  return node as Schema;
}

/** Every way `value` breaks `schema`, as `path: problem`; empty when it conforms. */
export function schemaProblems(root: unknown, schema: Schema, value: unknown, path = '$'): string[] {
  for (const keyword of Object.keys(schema)) {
    if (!KNOWN.has(keyword))
      throw new Error(`schema keyword ${keyword} at ${path} is outside the checked subset`);
  }
  if (typeof schema.$ref === 'string')
    return schemaProblems(root, resolveRef(root, schema.$ref), value, path);
  const actual = typeOf(value);
  if (typeof schema.type === 'string') {
    const ok = schema.type === actual || (schema.type === 'number' && actual === 'integer');
    if (!ok) return [`${path}: expected ${schema.type}, got ${actual}`];
  }
  const at: Place = { root, schema, path };
  return [
    ...choiceProblems(at, value),
    ...(typeof value === 'string' ? stringProblems(at, value) : []),
    ...(typeof value === 'number' ? numberProblems(at, value) : []),
    ...(actual === 'object' ? objectProblems(at, value as Record<string, unknown>) : []),
    ...(actual === 'array' && schema.items ? arrayProblems(at, value as unknown[]) : []),
  ];
}

/** Where a value is checked: the whole document (for `$ref`), the schema, and the value's path. */
interface Place {
  readonly root: unknown;
  readonly schema: Schema;
  readonly path: string;
}

/** `const`, `enum` and `oneOf`. */
function choiceProblems({ root, schema, path }: Place, value: unknown): string[] {
  const problems: string[] = [];
  if ('const' in schema && value !== schema.const)
    problems.push(`${path}: expected ${JSON.stringify(schema.const)}`);
  if (Array.isArray(schema.enum) && !schema.enum.includes(value))
    problems.push(`${path}: not one of ${schema.enum.join(', ')}`);
  if (Array.isArray(schema.oneOf)) {
    const matching = schema.oneOf.filter(
      (option) => schemaProblems(root, option as Schema, value, path).length === 0,
    );
    if (matching.length !== 1) problems.push(`${path}: matches ${matching.length} of oneOf, not exactly 1`);
  }
  return problems;
}

function stringProblems({ schema, path }: Place, value: string): string[] {
  const problems: string[] = [];
  if (typeof schema.minLength === 'number' && value.length < schema.minLength)
    problems.push(`${path}: shorter than ${schema.minLength}`);
  if (typeof schema.maxLength === 'number' && value.length > schema.maxLength)
    problems.push(`${path}: longer than ${schema.maxLength}`);
  if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value))
    problems.push(`${path}: does not match ${schema.pattern}`);
  if (
    schema.format === 'date-time' &&
    !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value)
  ) {
    problems.push(`${path}: not an RFC 3339 date-time`);
  }
  return problems;
}

function numberProblems({ schema, path }: Place, value: number): string[] {
  const problems: string[] = [];
  if (typeof schema.minimum === 'number' && value < schema.minimum)
    problems.push(`${path}: below ${schema.minimum}`);
  if (typeof schema.maximum === 'number' && value > schema.maximum)
    problems.push(`${path}: above ${schema.maximum}`);
  return problems;
}

function objectProblems({ root, schema, path }: Place, object: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  for (const name of (schema.required ?? []) as string[]) {
    if (!(name in object)) problems.push(`${path}: missing ${name}`);
  }
  for (const [name, field] of Object.entries(object)) {
    const fieldSchema = properties[name];
    if (fieldSchema) problems.push(...schemaProblems(root, fieldSchema, field, `${path}.${name}`));
    else if (schema.additionalProperties === false) problems.push(`${path}: unexpected field ${name}`);
  }
  return problems;
}

function arrayProblems({ root, schema, path }: Place, items: unknown[]): string[] {
  return items.flatMap((item, index) =>
    schemaProblems(root, schema.items as Schema, item, `${path}[${index}]`),
  );
}
