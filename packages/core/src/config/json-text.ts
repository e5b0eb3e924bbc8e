/**
 * JSON text, read strictly: the one reader of the service's JSON documents, at synth, at cold start, by
 * `tvs serve` and by `tvs validate`. One pass over the text finds both kinds of problem:
 *
 * - a syntax fault: when `JSON.parse` refuses a document, where (line and column, 1-based) and why, in
 *   words that never echo the document (a configuration file may sit beside secrets);
 * - a key given twice in one object, by its path: `JSON.parse` keeps the last of two equal keys without
 *   a word, so a document can mean something other than it reads (a client's second `"allowedScopes"`
 *   silently replacing the first).
 */

import { JsonSyntaxError, type JsonSyntaxProblem } from '@tvs/client/contract';

/** A JSON text read by {@link readJsonText}. */
export interface JsonDocument {
  /** The value as `JSON.parse` reads it: of two equal keys in one object, the last. */
  readonly value: unknown;
  /** The paths of the keys given more than once in one object, as {@link duplicateKeys} names them. */
  readonly duplicateKeys: readonly string[];
}

/**
 * Read `text` as JSON: its value and the keys it gives twice in one object. Throws
 * {@link JsonSyntaxError} naming the line and column of the first fault.
 */
export function readJsonText(text: string): JsonDocument {
  const value = parseJsonText(text);
  return { value, duplicateKeys: scanJsonText(text).duplicateKeys };
}

/** Parse `text` as JSON; throws {@link JsonSyntaxError} naming the line and column of the first fault. */
export function parseJsonText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new JsonSyntaxError(
      findJsonSyntaxProblem(text) ?? { line: 1, column: 1, message: 'not valid JSON' },
    );
  }
}

/**
 * The first syntax fault of `text` as RFC 8259 defines JSON, or undefined when it is valid.
 * `JSON.parse` tells no position for some faults and quotes the text in others.
 */
export function findJsonSyntaxProblem(text: string): JsonSyntaxProblem | undefined {
  return scanJsonText(text).problem;
}

/**
 * The paths of the keys that appear more than once in one object of `text` (e.g. `clients.webhooks-us.
 * allowedScopes`, `grants[2].client`), in document order, each once per repetition. Keys are compared as
 * JSON reads them, so `"a"` and `"\u0061"` are the same key. In a text that is not valid JSON, those
 * before its first fault.
 */
export function duplicateKeys(text: string): string[] {
  return scanJsonText(text).duplicateKeys;
}

/** What one pass over a JSON text finds. */
interface JsonScan {
  readonly problem: JsonSyntaxProblem | undefined;
  readonly duplicateKeys: string[];
}

function scanJsonText(text: string): JsonScan {
  const scanner = new JsonScanner(text);
  try {
    scanner.document();
    return { problem: undefined, duplicateKeys: scanner.duplicateKeys };
  } catch (error) {
    if (!(error instanceof SyntaxFault)) throw error;
    const problem = { ...positionOf(text, error.offset), message: error.message };
    return { problem, duplicateKeys: scanner.duplicateKeys };
  }
}

/** Line and column (1-based; a tab counts as one column) of `offset` in `text`. */
function positionOf(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const lineStart = before.lastIndexOf('\n') + 1;
  return { line: before.split('\n').length, column: offset - lineStart + 1 };
}

/** A key in a path: plain names joined with `.`, anything else in brackets as a JSON string. */
function childPath(parent: string | undefined, key: string): string {
  const plain = /^[A-Za-z0-9_$][A-Za-z0-9_$.-]*$/.test(key) && !key.includes('..');
  const child = plain ? key : `[${JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key)}]`;
  if (parent === undefined) return child;
  return plain ? `${parent}.${child}` : `${parent}${child}`;
}

/** The first syntax fault, at `offset` of the text: thrown inside the scanner, returned as a problem. */
class SyntaxFault {
  constructor(
    readonly offset: number,
    readonly message: string,
  ) {}
}

/** An object or array the scanner is inside, with its own path (undefined for the document itself). */
type ObjectContainer = {
  readonly kind: 'object';
  readonly path: string | undefined;
  readonly seen: Set<string>;
};
type ArrayContainer = { readonly kind: 'array'; readonly path: string | undefined; index: number };
type Container = ObjectContainer | ArrayContainer;

const CLOSER = { object: '}', array: ']' } as const;
const MEMBER = { object: 'a property value', array: 'an array element' } as const;
const LITERALS: ReadonlyMap<string, string> = new Map([
  ['t', 'true'],
  ['f', 'false'],
  ['n', 'null'],
]);
const WHITESPACE = ' \t\n\r';
const SINGLE_ESCAPES = '"\\/bfnrt';
const NUMBER = /-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;

/**
 * One pass over a JSON text. The objects and arrays it is inside are an explicit stack rather than
 * recursion, so a deeply nested document cannot overflow the call stack.
 */
class JsonScanner {
  /** The paths of the keys given twice in one object, so far. */
  readonly duplicateKeys: string[] = [];
  private at = 0;
  private readonly open: Container[] = [];
  /** The path of the value about to be read. */
  private path: string | undefined;

  constructor(private readonly text: string) {}

  /** The whole text: one value, with whitespace around it and maybe a byte order mark before it. */
  document(): void {
    if (this.text.charCodeAt(0) === 0xfeff) this.at = 1;
    for (;;) {
      // A value opening an object or array with members goes on with its first member's value.
      if (this.beginValue()) continue;
      if (!this.endValue()) break;
    }
    this.space();
    if (this.at < this.text.length) this.fail(`unexpected ${this.describe()} after the document`);
  }

  /**
   * Read a value: a scalar or an empty object or array whole (false), or the opening of an object or
   * array with members, up to its first member's value (true).
   */
  private beginValue(): boolean {
    this.space();
    const character = this.text[this.at];
    if (character === '{') return this.openContainer('object');
    if (character === '[') return this.openContainer('array');
    this.scalar(character);
    return false;
  }

  /** `{` or `[`: false when it closes at once, else true with its first member begun. */
  private openContainer(kind: Container['kind']): boolean {
    this.at++;
    this.space();
    if (this.text[this.at] === CLOSER[kind]) {
      this.at++;
      return false;
    }
    const container: Container =
      kind === 'object' ? { kind, path: this.path, seen: new Set() } : { kind, path: this.path, index: 0 };
    this.open.push(container);
    this.beginMember(container);
    return true;
  }

  /**
   * After a value: close the objects and arrays that end here. False when the document's value has
   * ended; true after a comma, with the next member begun.
   */
  private endValue(): boolean {
    for (let container = this.open.at(-1); container !== undefined; container = this.open.at(-1)) {
      this.space();
      const next = this.text[this.at];
      if (next === ',') {
        this.at++;
        this.nextMember(container);
        return true;
      }
      const closer = CLOSER[container.kind];
      if (next !== closer) {
        this.fail(`expected "," or "${closer}" after ${MEMBER[container.kind]}, found ${this.describe()}`);
      }
      this.at++;
      this.open.pop();
    }
    return false;
  }

  /** After a comma: the next member, which may not be the closing bracket. */
  private nextMember(container: Container): void {
    this.space();
    const closer = CLOSER[container.kind];
    if (this.text[this.at] === closer) this.fail(`a trailing comma before "${closer}"`);
    if (container.kind === 'array') container.index++;
    this.beginMember(container);
  }

  /** An array element's path, or an object member's key and colon. */
  private beginMember(container: Container): void {
    if (container.kind === 'array') this.path = `${container.path ?? ''}[${container.index}]`;
    else this.key(container);
  }

  /** A property name and its colon; a name the object already has is a duplicate key. */
  private key(container: ObjectContainer): void {
    this.space();
    if (this.text[this.at] !== '"') {
      this.fail(`expected a property name in double quotes, found ${this.describe()}`);
    }
    const start = this.at;
    this.string();
    // As JSON reads it: "a" and "\u0061" are one key.
    const key = JSON.parse(this.text.slice(start, this.at)) as string;
    this.space();
    if (this.text[this.at] !== ':') this.fail(`expected ":" after a property name, found ${this.describe()}`);
    this.at++;
    this.path = childPath(container.path, key);
    if (container.seen.has(key)) this.duplicateKeys.push(this.path);
    container.seen.add(key);
  }

  /** A string, `true`, `false`, `null` or a number, starting with `character`. */
  private scalar(character: string | undefined): void {
    const word = LITERALS.get(character ?? '');
    if (character === '"') this.string();
    else if (word !== undefined) this.literal(word);
    else this.number();
  }

  private literal(word: string): void {
    if (this.text.startsWith(word, this.at)) this.at += word.length;
    else this.fail(`expected a value, found ${this.describe()}`);
  }

  private number(): void {
    NUMBER.lastIndex = this.at;
    const match = NUMBER.exec(this.text);
    if (match === null) this.fail(`expected a value, found ${this.describe()}`);
    this.at += match[0].length;
    if (/^[0-9]/.test(this.text[this.at] ?? '')) this.fail('a number may not have leading zeros');
  }

  private string(): void {
    this.at++; // the opening quote
    for (;;) {
      const character = this.text[this.at];
      if (character === undefined) this.fail('unterminated string');
      if (character === '"') {
        this.at++;
        return;
      }
      if (character < ' ') this.fail('a control character (such as a line break) inside a string');
      this.at += character === '\\' ? this.escapeLength() : 1;
    }
  }

  /** The length of the escape sequence at the backslash here. */
  private escapeLength(): number {
    const escaped = this.text[this.at + 1] ?? '';
    if (escaped === 'u') {
      if (!/^[0-9a-fA-F]{4}$/.test(this.text.slice(this.at + 2, this.at + 6))) {
        this.fail('bad \\u escape in a string');
      }
      return 6;
    }
    if (escaped === '' || !SINGLE_ESCAPES.includes(escaped)) this.fail('bad escape in a string');
    return 2;
  }

  private space(): void {
    while (this.at < this.text.length && WHITESPACE.includes(this.text[this.at] as string)) this.at++;
  }

  /** The character here, for a message: one character of the text, never more. */
  private describe(): string {
    return this.at >= this.text.length ? 'the end of the text' : JSON.stringify(this.text[this.at]);
  }

  private fail(message: string): never {
    throw new SyntaxFault(this.at, message);
  }
}
