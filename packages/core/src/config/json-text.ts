/**
 * JSON text with positions: when `JSON.parse` refuses a document, say where (line and column, 1-based)
 * and why, in words that never echo the document (a configuration file may sit beside secrets).
 */

/** Where a JSON text first goes wrong. */
export interface JsonSyntaxProblem {
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

/** Thrown by {@link parseJsonText}. */
export class JsonSyntaxError extends Error {
  override readonly name = 'JsonSyntaxError';
  constructor(readonly problem: JsonSyntaxProblem) {
    super(`line ${problem.line}, column ${problem.column}: ${problem.message}`);
  }
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

/** Line and column (1-based; a tab counts as one column) of `offset` in `text`. */
function positionOf(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const lineStart = before.lastIndexOf('\n') + 1;
  return { line: before.split('\n').length, column: offset - lineStart + 1 };
}

/**
 * The first syntax fault of `text` as RFC 8259 defines JSON, or undefined when it is valid. A small
 * recursive scanner: `JSON.parse` tells no position for some faults and quotes the text in others.
 */
export function findJsonSyntaxProblem(text: string): JsonSyntaxProblem | undefined {
  let at = 0;
  const fail = (message: string, offset = at): never => {
    throw { offset, message };
  };
  const describe = () => (at >= text.length ? 'the end of the text' : JSON.stringify(text[at]));
  const space = () => {
    while (at < text.length && ' \t\n\r'.includes(text[at] as string)) at++;
  };
  const literal = (word: string) => {
    if (text.startsWith(word, at)) at += word.length;
    else fail(`expected a value, found ${describe()}`);
  };
  const string = () => {
    at++; // the opening quote
    for (;;) {
      if (at >= text.length) fail('unterminated string');
      const character = text[at] as string;
      if (character === '"') {
        at++;
        return;
      }
      if (character < ' ') fail('a control character (such as a line break) inside a string');
      if (character === '\\') {
        const escaped = text[at + 1] ?? '';
        if (escaped === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(at + 2, at + 6))) fail('bad \\u escape in a string');
          at += 6;
          continue;
        }
        if (escaped === '' || !'"\\/bfnrt'.includes(escaped)) fail('bad escape in a string');
        at += 2;
        continue;
      }
      at++;
    }
  };
  const number = () => {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(at));
    if (!match) fail(`expected a value, found ${describe()}`);
    at += (match as RegExpExecArray)[0].length;
    if (/^[0-9]/.test(text[at] ?? '')) fail('a number may not have leading zeros');
  };
  const value = (depth: number): void => {
    if (depth > 512) fail('nested too deeply');
    space();
    const character = text[at];
    if (character === '{') {
      at++;
      space();
      if (text[at] === '}') {
        at++;
        return;
      }
      for (;;) {
        space();
        if (text[at] !== '"') fail(`expected a property name in double quotes, found ${describe()}`);
        string();
        space();
        if (text[at] !== ':') fail(`expected ":" after a property name, found ${describe()}`);
        at++;
        value(depth + 1);
        space();
        if (text[at] === ',') {
          at++;
          space();
          if (text[at] === '}') fail('a trailing comma before "}"');
          continue;
        }
        if (text[at] === '}') {
          at++;
          return;
        }
        fail(`expected "," or "}" after a property value, found ${describe()}`);
      }
    }
    if (character === '[') {
      at++;
      space();
      if (text[at] === ']') {
        at++;
        return;
      }
      for (;;) {
        value(depth + 1);
        space();
        if (text[at] === ',') {
          at++;
          space();
          if (text[at] === ']') fail('a trailing comma before "]"');
          continue;
        }
        if (text[at] === ']') {
          at++;
          return;
        }
        fail(`expected "," or "]" after an array element, found ${describe()}`);
      }
    }
    if (character === '"') string();
    else if (character === 't') literal('true');
    else if (character === 'f') literal('false');
    else if (character === 'n') literal('null');
    else number();
  };
  try {
    if (text.charCodeAt(0) === 0xfeff) at = 1;
    value(0);
    space();
    if (at < text.length) fail(`unexpected ${describe()} after the document`);
    return undefined;
  } catch (error) {
    const { offset, message } = error as { offset: number; message: string };
    return { ...positionOf(text, offset), message };
  }
}
