/**
 * Caller principals and the principal patterns of grants.
 *
 * API Gateway reports a caller as `requestContext.identity.userArn`. A role's session appears as
 * `arn:<partition>:sts::<account>:assumed-role/<role-name>/<session>`; it is matched as the role,
 * `arn:<partition>:iam::<account>:role/<role-name>`. An IAM user appears as its IAM ARN and is matched as
 * is. Partitions `aws`, `aws-cn` and `aws-us-gov` are accepted; anything else — federated users, the
 * account root, other services, malformed ARNs — is no principal at all, so no grant matches it.
 *
 * A grant's principal is an IAM role or user ARN. In a role ARN, `*` may appear in the role name and
 * matches any run of characters of a role name (which never contains `/`); `*` anywhere else makes the
 * pattern invalid. An assumed-role ARN does not carry the role's path, so a role pattern must be written
 * without one (`role/<name>`, not `role/<path>/<name>`): a pattern with a path could never match a role
 * session and is rejected, rather than silently granting nothing. Matching is exact and case-sensitive.
 */

const PARTITIONS: ReadonlySet<string> = new Set(['aws', 'aws-cn', 'aws-us-gov']);
const MAX_ARN_LENGTH = 2048;
const WILDCARD_OUTSIDE_ROLE_NAME = '"*" may appear only in the role name';

/** IAM role, user and session names: 1 to 64 of these characters (session names 2 to 64). */
const NAME = '[\\w+=,.@-]';
const ACCOUNT = '\\d{12}';
const PARTITION = '(aws|aws-cn|aws-us-gov)';

const ASSUMED_ROLE_ARN = new RegExp(
  `^arn:${PARTITION}:sts::(${ACCOUNT}):assumed-role/(${NAME}{1,64})/${NAME}{2,64}$`,
);
const IAM_PRINCIPAL_ARN = new RegExp(
  `^arn:${PARTITION}:iam::${ACCOUNT}:(?:role|user)/(?:${NAME}+/)*${NAME}{1,64}$`,
);
const ACCOUNT_ID = new RegExp(`^${ACCOUNT}$`);
const ROLE_NAME_PATTERN = new RegExp(`^(?:${NAME}|\\*){1,64}$`);
const USER_RESOURCE = new RegExp(`^user/(?:${NAME}+/)*${NAME}{1,64}$`);

/**
 * The principal grants are matched against, for API Gateway's `userArn`: an assumed-role session ARN
 * becomes its role's IAM ARN, an IAM role or user ARN is returned as is, and anything else — including
 * every malformed ARN — is `undefined`, which matches no grant.
 */
export function callerPrincipal(userArn: string): string | undefined {
  if (typeof userArn !== 'string' || userArn.length > MAX_ARN_LENGTH) {
    return undefined;
  }
  const assumedRole = ASSUMED_ROLE_ARN.exec(userArn);
  if (assumedRole !== null) {
    const [, partition, account, roleName] = assumedRole;
    return `arn:${partition}:iam::${account}:role/${roleName}`;
  }
  return IAM_PRINCIPAL_ARN.test(userArn) ? userArn : undefined;
}

/**
 * A grant's principal, parsed once when the configuration is loaded, so a request compares strings and
 * never re-validates the pattern. Build it with {@link parsePrincipalPattern}.
 */
export interface PrincipalPattern {
  /** The pattern as written in the configuration, e.g. `arn:aws:iam::123456789012:role/orders-*`. */
  readonly text: string;
  /**
   * Whether `principal` — a caller's principal as {@link callerPrincipal} returns it, not a raw
   * `userArn` — is the one this pattern names.
   */
  matches(principal: string): boolean;
}

/**
 * Parse a grant's principal pattern: the {@link PrincipalPattern}, or why `pattern` is not a valid one.
 * Valid: an IAM role ARN `arn:<partition>:iam::<account>:role/<name>` whose name may contain `*`, or an
 * IAM user ARN `arn:<partition>:iam::<account>:user/[<path>/]<name>` without `*`.
 */
export function parsePrincipalPattern(pattern: string): PrincipalPattern | string {
  if (typeof pattern !== 'string') {
    return 'expected a string';
  }
  if (pattern.length > MAX_ARN_LENGTH) {
    return `is ${pattern.length} characters long; at most ${MAX_ARN_LENGTH} are allowed`;
  }
  const fields = pattern.split(':');
  const problem = iamArnProblemOf(fields);
  if (problem !== undefined) {
    return problem;
  }
  const resource = fields.slice(5).join(':');
  if (resource.startsWith('role/')) {
    return parseRolePattern(pattern, resource.slice('role/'.length));
  }
  if (resource.startsWith('user/')) {
    return parseUserPattern(pattern, resource);
  }
  return resource.includes('*')
    ? WILDCARD_OUTSIDE_ROLE_NAME
    : 'expected an IAM role ("…:role/<name>") or user ("…:user/<name>")';
}

/** What is wrong with the ARN fields before the resource (`arn:<partition>:iam::<account>`), if anything. */
function iamArnProblemOf(fields: readonly string[]): string | undefined {
  const [prefix, partition, service, region, account] = fields;
  const example = 'expected e.g. "arn:aws:iam::123456789012:role/orders-service"';
  if (fields.length < 6 || prefix !== 'arn') {
    return `is not an ARN; ${example}`;
  }
  if (fields.slice(0, 5).some((field) => field.includes('*'))) {
    return WILDCARD_OUTSIDE_ROLE_NAME;
  }
  if (partition === undefined || !PARTITIONS.has(partition)) {
    return 'unknown partition; expected "aws", "aws-cn" or "aws-us-gov"';
  }
  if (service !== 'iam') {
    return `is not an IAM ARN; ${example} (assumed-role callers are matched as their role)`;
  }
  if (region !== '') {
    return 'an IAM ARN has no region; expected "arn:<partition>:iam::<account>:…"';
  }
  if (account === undefined || !ACCOUNT_ID.test(account)) {
    return 'account must be 12 digits';
  }
  return undefined;
}

/** A role ARN `pattern` whose name is `roleName`: `*` in the name makes it a pattern, else it is exact. */
function parseRolePattern(pattern: string, roleName: string): PrincipalPattern | string {
  if (roleName.includes('/')) {
    return 'role paths are not part of assumed-role ARNs, so the pattern could never match; write the role as "role/<name>"';
  }
  if (roleName.includes('**')) {
    return 'use a single "*" in a role name';
  }
  if (!ROLE_NAME_PATTERN.test(roleName)) {
    return 'role name must be 1 to 64 characters of A-Z a-z 0-9 + = , . @ _ - (and "*")';
  }
  return roleName.includes('*')
    ? new RoleNamePattern(pattern, pattern.slice(0, pattern.length - roleName.length), roleName)
    : new ExactPrincipal(pattern);
}

/** A user ARN `pattern` (resource `user/[<path>/]<name>`): exact, without `*`. */
function parseUserPattern(pattern: string, resource: string): PrincipalPattern | string {
  if (resource.includes('*')) {
    return WILDCARD_OUTSIDE_ROLE_NAME;
  }
  return USER_RESOURCE.test(resource)
    ? new ExactPrincipal(pattern)
    : 'user name must be 1 to 64 characters of A-Z a-z 0-9 + = , . @ _ -';
}

/**
 * Why `pattern` is not a valid grant principal, or `undefined` when it is (see
 * {@link parsePrincipalPattern}).
 */
export function isValidPrincipalPattern(pattern: string): string | undefined {
  const parsed = parsePrincipalPattern(pattern);
  return typeof parsed === 'string' ? parsed : undefined;
}

/**
 * Whether the caller `userArn` (API Gateway's `identity.userArn`) is the principal named by a grant's
 * `pattern`. An invalid pattern or an unrecognised caller never matches. A convenience that parses
 * `pattern` on every call: the request path uses a {@link PrincipalPattern} parsed once instead.
 */
export function principalMatches(pattern: string, userArn: string): boolean {
  const parsed = parsePrincipalPattern(pattern);
  const principal = callerPrincipal(userArn);
  return typeof parsed !== 'string' && principal !== undefined && parsed.matches(principal);
}

/** A user ARN, or a role ARN without `*`: matches that one principal, exactly and case-sensitively. */
class ExactPrincipal implements PrincipalPattern {
  constructor(readonly text: string) {
    Object.freeze(this);
  }

  matches(principal: string): boolean {
    return principal === this.text;
  }
}

/**
 * A role ARN with `*` in its name: matches a role of the same partition and account (`rolePrefix`,
 * `arn:<partition>:iam::<account>:role/`) whose name — never containing `/`, so never a role with a
 * path — the name pattern matches, `*` standing for any run of role-name characters.
 */
class RoleNamePattern implements PrincipalPattern {
  /** The name pattern split at each `*`: the first literal run anchored at the start, the last at the end. */
  private readonly literals: readonly string[];

  constructor(
    readonly text: string,
    private readonly rolePrefix: string,
    namePattern: string,
  ) {
    this.literals = Object.freeze(namePattern.split('*'));
    Object.freeze(this);
  }

  matches(principal: string): boolean {
    if (!principal.startsWith(this.rolePrefix)) {
      return false;
    }
    const roleName = principal.slice(this.rolePrefix.length);
    return !roleName.includes('/') && this.nameMatches(roleName);
  }

  /**
   * Anchored first and last literals, and the ones between found leftmost, each after the previous: with
   * `*` as the only wildcard, the leftmost placement never loses a match. Linear scans, no backtracking,
   * so a pattern full of `*` costs no more than a few `indexOf` calls.
   */
  private nameMatches(roleName: string): boolean {
    const first = this.literals[0] ?? '';
    const last = this.literals[this.literals.length - 1] ?? '';
    const end = roleName.length - last.length;
    if (end < first.length || !roleName.startsWith(first) || !roleName.endsWith(last)) {
      return false;
    }
    let position = first.length;
    for (let index = 1; index < this.literals.length - 1; index += 1) {
      const literal = this.literals[index] ?? '';
      const found = roleName.indexOf(literal, position);
      if (found === -1 || found + literal.length > end) {
        return false;
      }
      position = found + literal.length;
    }
    return true;
  }
}
