import { readFile } from 'node:fs/promises';
import { CredentialsError, LocalConfigError } from '@tvs/client/contract';
import type { SecretSource } from '@tvs/core/upstream/credentials';

/**
 * Parse a secrets file: a JSON object of secret id → the secret, either as its JSON string (what Secrets
 * Manager holds) or as the object itself (easier to write by hand). Problems name ids, never values.
 */
export function parseSecretsFile(text: string, source: string): Map<string, string> {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new LocalConfigError(source, ['not valid JSON']);
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new LocalConfigError(source, ['must be a JSON object of secret id → secret']);
  }
  const secrets = new Map<string, string>();
  const problems: string[] = [];
  for (const [secretId, value] of Object.entries(document)) {
    if (typeof value === 'string') secrets.set(secretId, value);
    else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      secrets.set(secretId, JSON.stringify(value));
    } else problems.push(`${secretId}: must be the secret's JSON string or object`);
  }
  if (problems.length > 0) throw new LocalConfigError(source, problems);
  return secrets;
}

/**
 * Secrets read from the local secrets file. The file is read again on every read the credentials cache
 * makes (at most every few minutes, and once after `invalid_client`), so editing the file is how a secret
 * is rotated locally.
 */
export class SecretsFileSource implements SecretSource {
  constructor(private readonly path: string) {}

  /** Read and validate the whole file (at start, to fail fast). */
  async load(): Promise<Map<string, string>> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      throw new LocalConfigError(this.path, [
        `cannot read the secrets file (${(error as { code?: string }).code})`,
      ]);
    }
    return parseSecretsFile(text, this.path);
  }

  async readSecret(secretId: string): Promise<string> {
    let secrets: Map<string, string>;
    try {
      secrets = await this.load();
    } catch (error) {
      throw new CredentialsError(`secret ${secretId} could not be read: the local secrets file is invalid`, {
        cause: error,
      });
    }
    const secret = secrets.get(secretId);
    if (secret === undefined)
      throw new CredentialsError(`secret ${secretId} is not in the local secrets file`);
    return secret;
  }
}
