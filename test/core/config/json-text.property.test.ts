import { JsonSyntaxError } from '@tvs/client/contract';
import { findJsonSyntaxProblem, parseJsonText } from '@tvs/core/config/json-text';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

/** JSON texts, some broken by one edit: deleting, inserting or replacing a character. */
const texts = fc.oneof(
  fc.json(),
  fc
    .tuple(fc.json(), fc.nat(), fc.constantFrom('', ',', '}', ']', '"', ':', 'x', '0', '\n', '\\'))
    .map(([text, at, edit]) => {
      const i = text.length === 0 ? 0 : at % text.length;
      return text.slice(0, i) + edit + text.slice(i + (at % 2));
    }),
);

describe('findJsonSyntaxProblem', () => {
  it('finds a problem exactly when JSON.parse refuses the text', () => {
    fc.assert(
      fc.property(texts, (text) => {
        let parses = true;
        try {
          JSON.parse(text);
        } catch {
          parses = false;
        }
        expect(findJsonSyntaxProblem(text) === undefined).toBe(parses);
      }),
      { numRuns: 2_000 },
    );
  });

  it('names the line and column of the fault, never the text', () => {
    const text = '{\n  "clientSecret": "hunter2",\n  "a": 1,\n}\n';
    expect(() => parseJsonText(text)).toThrow(JsonSyntaxError);
    expect(findJsonSyntaxProblem(text)).toEqual({
      line: 4,
      column: 1,
      message: 'a trailing comma before "}"',
    });
    expect(() => parseJsonText(text)).toThrow(/^line 4, column 1: /);
    expect(() => parseJsonText(text)).not.toThrow(/hunter2/);
  });

  it('finds the fault of a deeply nested document without overflowing the stack', () => {
    const deep = `${'['.repeat(100_000)}1,${']'.repeat(100_000)}`;
    expect(findJsonSyntaxProblem(deep)).toEqual({
      line: 1,
      column: 100_003,
      message: 'a trailing comma before "]"',
    });
    expect(findJsonSyntaxProblem(deep.replace('1,', '1'))).toBeUndefined();
  });
});
