/**
 * `JSON.parse` keeps the last of two equal keys without a word; the JSON reader names every key given
 * twice in one object, by its path, besides the first syntax fault.
 */

import { JsonSyntaxError } from '@tvs/client/contract';
import { duplicateKeys, readJsonText } from '@tvs/core/config/json-text';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

describe('duplicateKeys', () => {
  it('finds a key given twice in any object, by its path', () => {
    expect(duplicateKeys('{"a":1,"b":{"c":[1,{"d":1,"d":2}]},"a":{}}')).toEqual(['b.c[1].d', 'a']);
    expect(duplicateKeys('[[],{}, {"x y":[{"y":1,"y":2}]}]')).toEqual(['[2]["x y"][0].y']);
  });

  it('compares keys as JSON reads them: an escaped spelling is the same key', () => {
    expect(duplicateKeys('{"scope":1,"\\u0073cope":2}')).toEqual(['scope']);
  });

  it('finds nothing in any document JSON.stringify writes, and every key a document repeats', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.string(), (value, key) => {
        const text = JSON.stringify(value);
        expect(duplicateKeys(text)).toEqual([]);
        // The same value under one key twice, wrapped in an array: found at that key's path.
        const repeated = `[${text},{${JSON.stringify(key)}:${text},${JSON.stringify(key)}:null}]`;
        expect(duplicateKeys(repeated)).toHaveLength(1);
      }),
    );
  });

  it('walks a deeply nested document without overflowing the stack', () => {
    const deep = `${'['.repeat(100_000)}{"a":1,"a":2}${']'.repeat(100_000)}`;
    expect(duplicateKeys(deep)).toHaveLength(1);
  });
});

describe('readJsonText', () => {
  it('reads the value as JSON.parse does, and the keys it gives twice', () => {
    expect(readJsonText('{"a":1,"b":[{"c":1,"c":2}],"a":3}')).toEqual({
      value: { a: 3, b: [{ c: 2 }] },
      duplicateKeys: ['b[0].c', 'a'],
    });
    expect(readJsonText(' [1, "x", {}]\n')).toEqual({ value: [1, 'x', {}], duplicateKeys: [] });
  });

  it('refuses invalid JSON by its first fault, before any key given twice', () => {
    const text = '{"a":1,"a":2,\n "b": tru}';
    expect(() => readJsonText(text)).toThrow(JsonSyntaxError);
    expect(() => readJsonText(text)).toThrow(/^line 2, column 7: expected a value, found "t"$/);
  });
});
