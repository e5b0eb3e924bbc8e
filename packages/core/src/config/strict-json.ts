/**
 * Strict JSON: `JSON.parse` keeps the last of two equal keys of an object without a word, so a document
 * can mean something other than it reads (a client's second `"allowedScopes"` silently replacing the
 * first). This module finds every key given twice in one object, anywhere in a document, by its path.
 * The service's configuration is read through it at synth, at cold start and by `tvs serve`.
 */

/** A key in a path: plain names joined with `.`, anything else in brackets as a JSON string. */
function childPath(parent: string | undefined, key: string): string {
  const plain = /^[A-Za-z0-9_$][A-Za-z0-9_$.-]*$/.test(key) && !key.includes('..');
  const child = plain ? key : `[${JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key)}]`;
  if (parent === undefined) return child;
  return plain ? `${parent}.${child}` : `${parent}${child}`;
}

const WHITESPACE = new Set([' ', '\t', '\n', '\r']);
const VALUE_END = new Set([',', ']', '}', ' ', '\t', '\n', '\r']);

/**
 * The paths of the keys that appear more than once in one object of `text` (e.g. `clients.webhooks-us.
 * allowedScopes`, `grants[2].client`), in document order, each once per repetition. `text` must be
 * valid JSON (parse it with `JSON.parse` first); keys are compared as JSON reads them, so `"a"` and
 * `"\u0061"` are the same key.
 */
export function duplicateKeys(text: string): string[] {
  const found: string[] = [];
  let at = 0;
  const skipWhitespace = () => {
    while (at < text.length && WHITESPACE.has(text.charAt(at))) at++;
  };
  const readString = (): string => {
    const start = at;
    at++;
    while (text.charAt(at) !== '"') at += text.charAt(at) === '\\' ? 2 : 1;
    at++;
    return JSON.parse(text.slice(start, at)) as string;
  };
  // An explicit stack instead of recursion, so a deeply nested document cannot overflow the call stack.
  type Frame =
    | { kind: 'object'; path: string | undefined; seen: Set<string> }
    | { kind: 'array'; path: string | undefined; index: number };
  const stack: Frame[] = [];
  let path: string | undefined;
  for (;;) {
    // A value starts here.
    skipWhitespace();
    const first = text.charAt(at);
    let opened = false;
    if (first === '{') {
      at++;
      skipWhitespace();
      if (text.charAt(at) === '}') at++;
      else {
        stack.push({ kind: 'object', path, seen: new Set() });
        opened = true;
      }
    } else if (first === '[') {
      at++;
      skipWhitespace();
      if (text.charAt(at) === ']') at++;
      else {
        stack.push({ kind: 'array', path, index: 0 });
        path = `${path ?? ''}[0]`;
        continue;
      }
    } else if (first === '"') {
      readString();
    } else {
      while (at < text.length && !VALUE_END.has(text.charAt(at))) at++;
    }
    // The value ended (or an object opened): find the next key or element, closing what ends here.
    let separated = opened;
    while (!separated) {
      const frame = stack.at(-1);
      if (frame === undefined) return found;
      skipWhitespace();
      const next = text.charAt(at);
      at++;
      if (next === ',') {
        separated = true;
        if (frame.kind === 'array') {
          frame.index++;
          path = `${frame.path ?? ''}[${frame.index}]`;
        }
      } else {
        stack.pop(); // `}` or `]`
      }
    }
    const frame = stack.at(-1);
    if (frame?.kind === 'object') {
      skipWhitespace();
      const key = readString();
      path = childPath(frame.path, key);
      if (frame.seen.has(key)) found.push(path);
      frame.seen.add(key);
      skipWhitespace();
      at++; // `:`
    }
  }
}
