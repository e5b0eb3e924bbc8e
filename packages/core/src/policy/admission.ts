/**
 * Which accounts the front door admits, and what that means for a grant: one rule, used by synth (a
 * grant whose account the resource policy does not admit is a configuration error) and by `tvs serve`
 * (which refuses a caller of such an account with 403, as API Gateway or the function URL would,
 * before the function runs).
 */

/** The 12-digit account of an IAM or STS principal ARN, or of a grant's principal pattern. */
export function principalAccount(arn: string): string | undefined {
  const account = arn.split(':')[4];
  return account !== undefined && /^\d{12}$/.test(account) ? account : undefined;
}

/** A grant whose principal's account the front door does not admit. */
export interface UnadmittedGrant {
  /** Its index in the document's `grants`. */
  readonly index: number;
  readonly principal: string;
  readonly account: string;
}

/**
 * The grants of `grants` whose principal's account is not one of `admitted`: no request of theirs ever
 * reaches the function, so such a grant says something the deployment does not do.
 */
export function unadmittedGrants(
  grants: readonly { readonly principal: string }[],
  admitted: ReadonlySet<string>,
): UnadmittedGrant[] {
  return grants.flatMap((grant, index) => {
    const account = principalAccount(grant.principal);
    return account === undefined || admitted.has(account)
      ? []
      : [{ index, principal: grant.principal, account }];
  });
}

/** The sentence for an {@link UnadmittedGrant}: what is wrong and how to fix it. */
export function unadmittedGrantProblem(grant: UnadmittedGrant, admitted: ReadonlySet<string>): string {
  const accounts = [...admitted].sort().join(', ') || 'none';
  return `grants[${grant.index}].principal: account ${grant.account} is not admitted by the resource policy (admitted: ${accounts}); AWS would answer 403 before the function runs. Admit the account, or remove the grant.`;
}
