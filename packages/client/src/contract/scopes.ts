/**
 * Identity Cloud scopes: parsing, canonical form, and containment.
 *
 * A scope is `<access>:<path-glob>`:
 * - `access` is exactly `*` (every HTTP method) or `.` (read only: GET and HEAD).
 * - `path-glob` is 1 to {@link MAX_SCOPE_PATH_LENGTH} characters from `A-Z a-z 0-9 - _ . ~ / *`
 *   (RFC 3986 "unreserved" plus the segment separator and the wildcard). Everything else — control
 *   characters, whitespace, non-ASCII, `%`, `?`, `[`, `{`, `"`, `\`, `:` … — is refused, because we cannot
 *   know how Identity Cloud would interpret it and a refused scope is the safe answer.
 * - The path is relative (`config/**`, never `/config/**`), has no empty segment (`a//b`, trailing `/`)
 *   and no dot segment (`.`, `..`): those are the spellings an upstream could normalise into a path
 *   outside what our literal containment check saw.
 * - `**` matches any run of characters, `/` included (possibly empty); `*` matches any run within one
 *   segment (no `/`, possibly empty); every other character matches itself, case-sensitively. A glob
 *   matches the whole path. Three or more consecutive `*` are ambiguous and refused.
 *
 * A scope string holds 1 to {@link MAX_SCOPES} scopes separated by runs of ASCII space (U+0020) — the
 * RFC 6749 §3.3 separator; leading and trailing spaces are ignored. A tab or any other whitespace is not a
 * separator and is refused like any control character. The whole string is at most
 * {@link MAX_SCOPE_STRING_LENGTH} characters.
 */
import { InvalidScopeError } from './errors.js';

/** `*` allows every HTTP method; `.` allows read (GET, HEAD) only. */
export type Access = '*' | '.';

/** One parsed scope. Build it with {@link parseScope} or {@link parseScopes}; instances are frozen. */
export interface Scope {
  /** What the scope allows to do. */
  readonly access: Access;
  /** The path glob as written, e.g. `config/**`. */
  readonly path: string;
  /** The scope as written, e.g. `*:config/**`; identical scopes have identical text. */
  readonly text: string;
}

/** Longest accepted scope string (all scopes and separators), in UTF-16 code units. */
export const MAX_SCOPE_STRING_LENGTH = 1024;

/** Most scopes accepted in one scope string. */
export const MAX_SCOPES = 32;

/** Longest accepted path glob of one scope, in characters. */
export const MAX_SCOPE_PATH_LENGTH = 256;

/** Longest excerpt of caller-supplied text quoted in an error message, in code points. */
const MAX_QUOTED_LENGTH = 40;

/**
 * Upper bound on the containment search (pairs of requested-glob state and granting-glob state). Real
 * scopes need a few hundred at most; a pathological pair of globs that needs more is answered "not
 * covered" — refusing is always sound, and it bounds the work a caller can cause.
 */
const MAX_CONTAINMENT_STATES = 20_000;

const PATH_CHARACTER = /^[A-Za-z0-9\-_.~/*]$/;
const HTTP_METHOD = /^[A-Z]+$/;
const READ_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD']);

/**
 * Quote caller- or config-supplied text for an error message: at most `maxLength` code points (then
 * `…`), wrapped in double quotes, with `"` and `\` backslash-escaped and everything outside printable
 * ASCII written as `\u{…}`, so a message can neither carry control characters into a log nor be
 * made arbitrarily long.
 */
export function quoteForMessage(text: string, maxLength = MAX_QUOTED_LENGTH): string {
  let quoted = '';
  let count = 0;
  for (const character of text) {
    if (count === maxLength) {
      return `"${quoted}…"`;
    }
    count += 1;
    const codePoint = character.codePointAt(0) ?? 0;
    if (character === '"' || character === '\\') {
      quoted += `\\${character}`;
    } else if (codePoint >= 0x20 && codePoint <= 0x7e) {
      quoted += character;
    } else {
      quoted += `\\u{${codePoint.toString(16)}}`;
    }
  }
  return `"${quoted}"`;
}

/** Parse one scope, e.g. `*:config/**`. Throws {@link InvalidScopeError} saying what is wrong. */
export function parseScope(text: string): Scope {
  if (typeof text !== 'string') {
    throw new InvalidScopeError('scope: expected a string');
  }
  const parsed = analyseScope(text);
  if (typeof parsed === 'string') {
    throw new InvalidScopeError(`scope ${quoteForMessage(text)}: ${parsed}`);
  }
  return parsed;
}

/**
 * Parse a scope string: scopes separated by runs of ASCII space (see the module comment for the limits).
 * Duplicates are kept; {@link canonicalScope} removes them. Throws {@link InvalidScopeError} whose message
 * names the faulty scope by its 1-based number and a truncated, escaped quote of it, e.g.
 * `scope 2 ("x:y"): unknown access "x"; expected "*" or "."`.
 */
export function parseScopes(scopeString: string): Scope[] {
  if (typeof scopeString !== 'string') {
    throw new InvalidScopeError('scope: expected a string');
  }
  if (scopeString.length > MAX_SCOPE_STRING_LENGTH) {
    throw new InvalidScopeError(
      `scope string is ${scopeString.length} characters long; at most ${MAX_SCOPE_STRING_LENGTH} are allowed`,
    );
  }
  const texts = scopeString.split(' ').filter((text) => text !== '');
  if (texts.length === 0) {
    throw new InvalidScopeError('scope string is empty; expected e.g. ".:config/**"');
  }
  if (texts.length > MAX_SCOPES) {
    throw new InvalidScopeError(`scope string has ${texts.length} scopes; at most ${MAX_SCOPES} are allowed`);
  }
  return texts.map((text, index) => {
    const parsed = analyseScope(text);
    if (typeof parsed === 'string') {
      throw new InvalidScopeError(`scope ${index + 1} (${quoteForMessage(text)}): ${parsed}`);
    }
    return parsed;
  });
}

/**
 * The canonical form of a list of scopes: de-duplicated by text, sorted in plain UTF-16 code-unit order
 * (locale-independent, so every process agrees), joined by one space. Used in answers and cache keys.
 */
export function canonicalScope(scopes: readonly Scope[]): string {
  const texts = [...new Set(scopes.map((scope) => scope.text))];
  texts.sort((left, right) => (left < right ? -1 : left > right ? 1 : 0));
  return texts.join(' ');
}

/**
 * The canonical form of a scope string, as the service computes it for answers and cache keys: the
 * string parsed by {@link parseScopes} (so exactly the strings the service accepts), then
 * {@link canonicalScope}. Throws {@link InvalidScopeError} for a string the service refuses. The
 * TypeScript client uses this very function, so both sides agree on every string.
 */
export function canonicalScopeText(scopeString: string): string {
  return canonicalScope(parseScopes(scopeString));
}

/**
 * Whether `granting` contains `requested`: its access is no wider, and every concrete path that
 * `requested`'s glob can match is matched by `granting`'s glob (exact language inclusion). Sound: never
 * true when some path or method allowed by `requested` is not allowed by `granting`. Answers false for a
 * scope that was not built by the parser and does not parse, and for the (pathological) pairs of globs
 * whose comparison exceeds the internal work bound.
 */
export function covers(granting: Scope, requested: Scope): boolean {
  if (!accessCovers(granting.access, requested.access)) {
    return false;
  }
  const grantingGlob = globOf(granting);
  const requestedGlob = globOf(requested);
  if (grantingGlob === undefined || requestedGlob === undefined) {
    return false;
  }
  if (granting.path === requested.path) {
    return true;
  }
  return prefixGlobIncludes(grantingGlob, requestedGlob) ?? globIncludes(grantingGlob, requestedGlob);
}

/**
 * Whether every scope of `requested` is covered by some scope of `granting` (each may be covered by a
 * different one). True for an empty `requested`; callers that must refuse an empty request check that
 * themselves.
 */
export function coversAll(granting: readonly Scope[], requested: readonly Scope[]): boolean {
  return requested.every((wanted) => granting.some((held) => covers(held, wanted)));
}

/**
 * Whether `scope` allows the HTTP `method` (upper case, e.g. `GET`) on the concrete `path` (relative, no
 * leading `/`, e.g. `config/clients/abc`). GET and HEAD are reads; every other method needs access `*`.
 * A path containing `*` is a glob, not a concrete path, and is never allowed.
 */
export function allows(scope: Scope, method: string, path: string): boolean {
  if (typeof method !== 'string' || !HTTP_METHOD.test(method)) {
    return false;
  }
  if (scope.access !== '*' && !(scope.access === '.' && READ_METHODS.has(method))) {
    return false;
  }
  if (typeof path !== 'string' || path.includes('*')) {
    return false;
  }
  const glob = tokenizeValidPath(scope.path);
  return glob !== undefined && globMatches(glob, path);
}

// ---------------------------------------------------------------------------------------------------
// Parsing

/** A glob token: `*` (one segment), `**` (any depth), or one literal character. */
type GlobToken = string;
const STAR: GlobToken = '*';
const GLOBSTAR: GlobToken = '**';

/** The scope, frozen, or the reason it is invalid. */
function analyseScope(text: string): Scope | string {
  if (text.length === 0) {
    return 'empty scope; expected "<access>:<path>", e.g. ".:config/**"';
  }
  const colon = text.indexOf(':');
  if (colon === -1) {
    return 'missing ":" between access and path; expected "<access>:<path>", e.g. ".:config/**"';
  }
  const access = text.slice(0, colon);
  if (access !== '*' && access !== '.') {
    return access === ''
      ? 'missing access before ":"; expected "*" or "."'
      : `unknown access ${quoteForMessage(access)}; expected "*" or "."`;
  }
  const path = text.slice(colon + 1);
  const problem = pathProblem(path, colon + 1);
  if (problem !== undefined) {
    return problem;
  }
  return Object.freeze({ access, path, text });
}

/**
 * Why `path` is not a valid path glob, or undefined. `offset` is where the path starts in the scope
 * text, so positions in messages are 1-based positions in the scope as the caller wrote it.
 */
function pathProblem(path: string, offset: number): string | undefined {
  return pathLengthProblem(path) ?? pathCharacterProblem(path, offset) ?? pathShapeProblem(path, offset);
}

/** An empty path, or one longer than {@link MAX_SCOPE_PATH_LENGTH}. */
function pathLengthProblem(path: string): string | undefined {
  if (path.length === 0) {
    return 'empty path; expected e.g. "config/**"';
  }
  if (path.length > MAX_SCOPE_PATH_LENGTH) {
    return `path is ${path.length} characters long; at most ${MAX_SCOPE_PATH_LENGTH} are allowed`;
  }
  return undefined;
}

/** The first character a path may not use, named by position. */
function pathCharacterProblem(path: string, offset: number): string | undefined {
  for (let index = 0; index < path.length; index += 1) {
    const character = path[index] ?? '';
    if (!PATH_CHARACTER.test(character)) {
      const codePoint = path.codePointAt(index) ?? 0;
      const shown =
        codePoint >= 0x21 && codePoint <= 0x7e
          ? quoteForMessage(character)
          : `U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`;
      return `character ${shown} at position ${offset + index + 1} is not allowed; a path may use A-Z a-z 0-9 - _ . ~ / *`;
    }
  }
  return undefined;
}

/** Three or more `*` in a row, a leading or trailing `/`, an empty segment, or a `.` or `..` segment. */
function pathShapeProblem(path: string, offset: number): string | undefined {
  const starRun = /\*{3,}/.exec(path);
  if (starRun !== null) {
    return `${starRun[0].length} consecutive "*" at position ${offset + starRun.index + 1} are ambiguous; use "*" (within a segment) or "**" (any depth)`;
  }
  if (path.startsWith('/')) {
    return 'path must not start with "/"; write e.g. "config/**"';
  }
  if (path.endsWith('/')) {
    return 'path must not end with "/"';
  }
  const emptySegment = path.indexOf('//');
  if (emptySegment !== -1) {
    return `empty path segment at position ${offset + emptySegment + 2}`;
  }
  const dotSegment = path.split('/').find((segment) => segment === '.' || segment === '..');
  return dotSegment === undefined ? undefined : `path segment "${dotSegment}" is not allowed`;
}

/**
 * The tokens of a scope's glob, or undefined when its path is not a valid path glob. Scopes made by the
 * parser are frozen, so their tokens are computed once and remembered; any other object is checked anew.
 */
const globs = new WeakMap<Scope, readonly GlobToken[]>();
function globOf(scope: Scope): readonly GlobToken[] | undefined {
  const known = globs.get(scope);
  if (known !== undefined) return known;
  const glob = tokenizeValidPath(scope.path);
  if (glob !== undefined && Object.isFrozen(scope)) globs.set(scope, Object.freeze(glob));
  return glob;
}

/** The glob's tokens, or undefined when `path` is not a valid path glob. */
function tokenizeValidPath(path: unknown): GlobToken[] | undefined {
  if (typeof path !== 'string' || pathProblem(path, 0) !== undefined) {
    return undefined;
  }
  const tokens: GlobToken[] = [];
  for (let index = 0; index < path.length; index += 1) {
    const character = path[index] ?? '';
    if (character === '*' && path[index + 1] === '*') {
      tokens.push(GLOBSTAR);
      index += 1;
    } else {
      tokens.push(character);
    }
  }
  return tokens;
}

function accessCovers(granting: Access, requested: Access): boolean {
  if (granting === '*') {
    return requested === '*' || requested === '.';
  }
  return granting === '.' && requested === '.';
}

// ---------------------------------------------------------------------------------------------------
// Matching. A glob of n tokens is an NFA whose states are the positions 0..n: at a literal it reads that
// character and moves on; at `*` it may read any character but `/` and stay; at `**` it may read any
// character and stay; at either wildcard it may also move on without reading. State n accepts.

/** Add to `positions` (a boolean per position, 0..n) every position reachable without reading. */
function closeOver(glob: readonly GlobToken[], positions: boolean[]): boolean[] {
  // Wildcard moves only go forward by one, so one ascending pass reaches the fixed point.
  for (let position = 0; position < glob.length; position += 1) {
    const token = glob[position];
    if (positions[position] === true && (token === STAR || token === GLOBSTAR)) {
      positions[position + 1] = true;
    }
  }
  return positions;
}

/** The positions reached from `positions` by reading `character`, closed over wildcard moves. */
function advance(glob: readonly GlobToken[], positions: readonly boolean[], character: string): boolean[] {
  const next: boolean[] = new Array<boolean>(glob.length + 1).fill(false);
  for (let position = 0; position < glob.length; position += 1) {
    if (positions[position] !== true) {
      continue;
    }
    const token = glob[position];
    if (token === GLOBSTAR || (token === STAR && character !== '/')) {
      next[position] = true;
    } else if (token === character) {
      next[position + 1] = true;
    }
  }
  return closeOver(glob, next);
}

function startPositions(glob: readonly GlobToken[]): boolean[] {
  const positions: boolean[] = new Array<boolean>(glob.length + 1).fill(false);
  positions[0] = true;
  return closeOver(glob, positions);
}

function globMatches(glob: readonly GlobToken[], path: string): boolean {
  let positions = startPositions(glob);
  for (const character of path) {
    positions = advance(glob, positions, character);
    if (!positions.includes(true)) {
      return false;
    }
  }
  return positions[glob.length] === true;
}

/**
 * The answer of {@link globIncludes} when `granting` is the commonest grant shape, literal characters
 * followed by one final `**` (`webhooks/**`, `config/clients/**`), and the answer shows in `requested`'s
 * first characters; undefined when it does not (then the full search decides). Such a granting glob
 * matches exactly the strings that start with its literal prefix, so: if `requested` starts with that
 * prefix in literal characters, every string it matches does (covered); if a literal of `requested`
 * differs within the prefix before any wildcard, none does (not covered).
 */
function prefixGlobIncludes(
  granting: readonly GlobToken[],
  requested: readonly GlobToken[],
): boolean | undefined {
  const prefixLength = granting.length - 1;
  if (granting[prefixLength] !== GLOBSTAR) return undefined;
  for (let index = 0; index < prefixLength; index += 1) {
    const literal = granting[index];
    if (literal === STAR || literal === GLOBSTAR) return undefined;
    const wanted = requested[index];
    if (wanted === STAR || wanted === GLOBSTAR) return undefined;
    if (wanted !== literal) return false;
  }
  return true;
}

/**
 * Stands for every character that is neither `/` nor a literal of the granting glob: the granting glob
 * treats all of them alike, so one representative is enough. U+0000 never occurs in a valid path.
 */
const OTHER_CHARACTER = '\u0000';

/** A state of the granting glob's DFA (a set of NFA positions), built lazily. */
interface GrantingState {
  readonly id: number;
  readonly positions: readonly boolean[];
  readonly accepting: boolean;
  /** Some position from which only `**` remains: every continuation is accepted. */
  readonly universal: boolean;
  readonly transitions: Map<string, GrantingState>;
}

/** The granting glob's DFA, built lazily: one state per set of NFA positions reached. */
class GrantingAutomaton {
  private readonly states = new Map<string, GrantingState>();
  /** Per position: from there on, only `**` remains (every continuation is accepted). */
  private readonly onlyGlobstarFrom: readonly boolean[];

  constructor(private readonly glob: readonly GlobToken[]) {
    const onlyGlobstarFrom = new Array<boolean>(glob.length + 1).fill(false);
    for (let position = glob.length - 1; position >= 0; position -= 1) {
      onlyGlobstarFrom[position] =
        glob[position] === GLOBSTAR &&
        (position === glob.length - 1 || onlyGlobstarFrom[position + 1] === true);
    }
    this.onlyGlobstarFrom = onlyGlobstarFrom;
  }

  /** The state before any character. */
  start(): GrantingState {
    return this.state(startPositions(this.glob));
  }

  /** The state after `character` from `state`. */
  step(state: GrantingState, character: string): GrantingState {
    let next = state.transitions.get(character);
    if (next === undefined) {
      next = this.state(advance(this.glob, state.positions, character));
      state.transitions.set(character, next);
    }
    return next;
  }

  private state(positions: boolean[]): GrantingState {
    const key = positions.map((reached) => (reached ? '1' : '0')).join('');
    let state = this.states.get(key);
    if (state === undefined) {
      state = {
        id: this.states.size,
        positions,
        accepting: positions[this.glob.length] === true,
        universal: positions.some((reached, position) => reached && this.onlyGlobstarFrom[position] === true),
        transitions: new Map(),
      };
      this.states.set(key, state);
    }
    return state;
  }
}

/** The pairs (requested glob position, granting state) of the product still to explore, each once. */
class ProductPairs {
  private readonly seen = new Set<string>();
  private readonly pending: [number, GrantingState][] = [];

  /** How many pairs were ever reached. */
  get reached(): number {
    return this.seen.size;
  }

  /** Reach `state` with every requested position in `positions`. */
  add(positions: readonly boolean[], state: GrantingState): void {
    positions.forEach((reached, position) => {
      const key = `${position} ${state.id}`;
      if (reached && !this.seen.has(key)) {
        this.seen.add(key);
        this.pending.push([position, state]);
      }
    });
  }

  next(): [number, GrantingState] | undefined {
    return this.pending.pop();
  }
}

/**
 * The characters to try for one token of the requested glob: a literal itself; for a wildcard, the
 * granting glob's literals, `/` (not for `*`, which stays within a segment) and {@link OTHER_CHARACTER}
 * standing for every other character.
 */
function charactersFor(token: GlobToken, alphabet: readonly string[]): readonly string[] {
  if (token === GLOBSTAR) return alphabet;
  if (token === STAR) return alphabet.filter((character) => character !== '/');
  return [token];
}

/**
 * Whether every string matched by `requested` is matched by `granting` (language inclusion). Explores the
 * product of the requested glob's NFA with the determinised granting glob: a reachable pair where the
 * requested glob accepts and the granting glob does not is a path in `requested` but not in `granting`.
 * Exact over the whole (infinite) alphabet: where the requested glob has a wildcard, the characters tried
 * are the granting glob's literals, `/`, and {@link OTHER_CHARACTER} for all the rest; where it has a
 * literal, that literal. Answers false (fail closed) past {@link MAX_CONTAINMENT_STATES} pairs.
 */
function globIncludes(granting: readonly GlobToken[], requested: readonly GlobToken[]): boolean {
  const grantingLiterals = new Set(granting.filter((token) => token !== STAR && token !== GLOBSTAR));
  const alphabet = [...new Set([...grantingLiterals, '/', OTHER_CHARACTER])];
  const automaton = new GrantingAutomaton(granting);
  const pairs = new ProductPairs();
  pairs.add(startPositions(requested), automaton.start());
  for (let pair = pairs.next(); pair !== undefined; pair = pairs.next()) {
    if (pairs.reached > MAX_CONTAINMENT_STATES) return false;
    const [position, state] = pair;
    if (state.universal) continue;
    if (position === requested.length) {
      if (!state.accepting) return false;
      continue;
    }
    const single = new Array<boolean>(requested.length + 1).fill(false);
    single[position] = true;
    for (const character of charactersFor(requested[position] ?? '', alphabet)) {
      pairs.add(advance(requested, single, character), automaton.step(state, character));
    }
  }
  return true;
}
