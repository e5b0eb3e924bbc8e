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
 * Why `pattern` is not a valid grant principal, or `undefined` when it is. Valid: an IAM role ARN
 * `arn:<partition>:iam::<account>:role/<name>` whose name may contain `*`, or an IAM user ARN
 * `arn:<partition>:iam::<account>:user/[<path>/]<name>` without `*`.
 */
export function isValidPrincipalPattern(pattern: string): string | undefined {
  if (typeof pattern !== 'string') {
    return 'expected a string';
  }
  if (pattern.length > MAX_ARN_LENGTH) {
    return `is ${pattern.length} characters long; at most ${MAX_ARN_LENGTH} are allowed`;
  }
  const fields = pattern.split(':');
  const [prefix, partition, service, region, account] = fields;
  const resource = fields.slice(5).join(':');
  const example = 'expected e.g. "arn:aws:iam::123456789012:role/orders-service"';
  if (fields.length < 6 || prefix !== 'arn') {
    return `is not an ARN; ${example}`;
  }
  if (fields.slice(0, 5).some((field) => field.includes('*'))) {
    return '"*" may appear only in the role name';
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
  if (account === undefined || !new RegExp(`^${ACCOUNT}$`).test(account)) {
    return 'account must be 12 digits';
  }
  if (resource.startsWith('role/')) {
    const roleName = resource.slice('role/'.length);
    if (roleName.includes('/')) {
      return 'role paths are not part of assumed-role ARNs, so the pattern could never match; write the role as "role/<name>"';
    }
    if (roleName.includes('**')) {
      return 'use a single "*" in a role name';
    }
    if (!ROLE_NAME_PATTERN.test(roleName)) {
      return 'role name must be 1 to 64 characters of A-Z a-z 0-9 + = , . @ _ - (and "*")';
    }
    return undefined;
  }
  if (resource.startsWith('user/')) {
    if (resource.includes('*')) {
      return '"*" may appear only in the role name';
    }
    return USER_RESOURCE.test(resource)
      ? undefined
      : 'user name must be 1 to 64 characters of A-Z a-z 0-9 + = , . @ _ -';
  }
  return resource.includes('*')
    ? '"*" may appear only in the role name'
    : 'expected an IAM role ("…:role/<name>") or user ("…:user/<name>")';
}

/**
 * Whether the caller `userArn` (API Gateway's `identity.userArn`) is the principal named by a grant's
 * `pattern`. Compares {@link callerPrincipal} of the caller with the pattern; `*` in a role name matches
 * any run of role-name characters. An invalid pattern or an unrecognised caller never matches.
 */
export function principalMatches(pattern: string, userArn: string): boolean {
  if (isValidPrincipalPattern(pattern) !== undefined) {
    return false;
  }
  const principal = callerPrincipal(userArn);
  if (principal === undefined) {
    return false;
  }
  if (!pattern.includes('*')) {
    return principal === pattern;
  }
  // A valid pattern with `*` is a role pattern without a path: the caller must be a role of the same
  // partition and account whose name (never containing `/`) the name pattern matches.
  const rolePrefixEnd = pattern.indexOf(':role/') + ':role/'.length;
  const roleName = principal.slice(rolePrefixEnd);
  return (
    principal.slice(0, rolePrefixEnd) === pattern.slice(0, rolePrefixEnd) &&
    !roleName.includes('/') &&
    wildcardMatches(pattern.slice(rolePrefixEnd), roleName)
  );
}

/**
 * Whether `name` matches `namePattern`, where `*` matches any run of characters. Greedy with one
 * backtrack point (the last `*`), so it runs in O(length × length) at worst and never backtracks
 * exponentially as a regular expression with many `*` could.
 */
function wildcardMatches(namePattern: string, name: string): boolean {
  let patternIndex = 0;
  let nameIndex = 0;
  let starIndex = -1;
  let resumeIndex = 0;
  while (nameIndex < name.length) {
    if (patternIndex < namePattern.length && namePattern[patternIndex] === '*') {
      starIndex = patternIndex;
      resumeIndex = nameIndex;
      patternIndex += 1;
    } else if (patternIndex < namePattern.length && namePattern[patternIndex] === name[nameIndex]) {
      patternIndex += 1;
      nameIndex += 1;
    } else if (starIndex !== -1) {
      patternIndex = starIndex + 1;
      resumeIndex += 1;
      nameIndex = resumeIndex;
    } else {
      return false;
    }
  }
  while (namePattern[patternIndex] === '*') {
    patternIndex += 1;
  }
  return patternIndex === namePattern.length;
}
