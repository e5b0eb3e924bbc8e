/**
 * The credentials of a client given none: the AWS SDK's default chain where
 * `@aws-sdk/credential-provider-node` is installed, else the environment's keys, else `no_credentials`.
 * Each branch through an injected loader; the real loader against the chain the repository installs.
 */
import {
  type AwsCredentials,
  CREDENTIAL_CHAIN_PACKAGE,
  type CredentialChainModule,
  defaultCredentials,
  environmentCredentials,
  loadCredentialChain,
  TokenServiceError,
} from '@tvs/client';
import { describe, expect, it } from 'vitest';

const KEYS = { AWS_ACCESS_KEY_ID: 'AKIDFROMTHEENVIRONMENT', AWS_SECRET_ACCESS_KEY: 'environment-secret' };

/** A loader of a chain that hands out `credentials`, counting loads and chain calls. */
function installedChain(credentials: AwsCredentials) {
  const counts = { loads: 0, providers: 0, calls: 0 };
  const module: CredentialChainModule = {
    defaultProvider: () => {
      counts.providers++;
      return async () => {
        counts.calls++;
        return credentials;
      };
    },
  };
  const loadChain = async () => {
    counts.loads++;
    return module;
  };
  return { counts, loadChain };
}

const notInstalled = async () => undefined;

describe('defaultCredentials', () => {
  it("uses the SDK's default chain when it is installed, loaded once, even with keys in the environment", async () => {
    const fromChain = {
      accessKeyId: 'AKIDFROMTHECHAIN0001',
      secretAccessKey: 'chain-secret',
      sessionToken: 's',
    };
    const { counts, loadChain } = installedChain(fromChain);
    const credentials = defaultCredentials({ loadChain, env: KEYS });

    expect(counts.loads).toBe(0);
    expect(await credentials()).toEqual(fromChain);
    expect(await credentials()).toEqual(fromChain);
    expect(counts).toEqual({ loads: 1, providers: 1, calls: 2 });
  });

  it('without the chain, signs with the keys in the environment, read at each request', async () => {
    const env: NodeJS.ProcessEnv = { ...KEYS };
    const credentials = defaultCredentials({ loadChain: notInstalled, env });

    expect(await credentials()).toEqual({
      accessKeyId: KEYS.AWS_ACCESS_KEY_ID,
      secretAccessKey: KEYS.AWS_SECRET_ACCESS_KEY,
    });
    env.AWS_SESSION_TOKEN = 'the-session-token';
    expect(await credentials()).toEqual({
      accessKeyId: KEYS.AWS_ACCESS_KEY_ID,
      secretAccessKey: KEYS.AWS_SECRET_ACCESS_KEY,
      sessionToken: 'the-session-token',
    });
  });

  it('without the chain or both keys, fails with no_credentials saying where credentials come from', async () => {
    for (const env of [{}, { AWS_ACCESS_KEY_ID: KEYS.AWS_ACCESS_KEY_ID }, { AWS_SECRET_ACCESS_KEY: 'x' }]) {
      const error = await defaultCredentials({ loadChain: notInstalled, env })().catch((e: unknown) => e);

      expect(error).toBeInstanceOf(TokenServiceError);
      expect(error).toMatchObject({ status: 0, error: 'no_credentials', code: 'TVS_ERR_NO_CREDENTIALS' });
      const description = (error as TokenServiceError).error_description;
      for (const hint of [
        'AWS_ACCESS_KEY_ID',
        'AWS_SECRET_ACCESS_KEY',
        'AWS_SESSION_TOKEN',
        CREDENTIAL_CHAIN_PACKAGE,
      ]) {
        expect(description).toContain(hint);
      }
      expect(description).toMatch(/profiles, SSO, container and instance roles/);
    }
  });

  it('reports a chain that is installed but fails to load as that failure, not as missing credentials', async () => {
    const broken = new Error('Cannot find module @smithy/core/config');
    const credentials = defaultCredentials({
      loadChain: () => Promise.reject(broken),
      env: KEYS,
    });

    await expect(credentials()).rejects.toBe(broken);
  });

  it('loads the chain the repository installs, and the chain finds the keys of this process', async () => {
    const module = await loadCredentialChain();

    expect(typeof module?.defaultProvider).toBe('function');
    // vitest.config.ts puts AWS_ACCESS_KEY_ID=testing in this process's environment.
    expect(await defaultCredentials()()).toMatchObject({
      accessKeyId: 'testing',
      secretAccessKey: 'testing',
    });
  });
});

describe('environmentCredentials', () => {
  it('takes both keys, and the session token only with them', () => {
    expect(environmentCredentials({ ...KEYS, AWS_SESSION_TOKEN: '' })).toEqual({
      accessKeyId: KEYS.AWS_ACCESS_KEY_ID,
      secretAccessKey: KEYS.AWS_SECRET_ACCESS_KEY,
    });
    expect(environmentCredentials({ AWS_SECRET_ACCESS_KEY: 'x', AWS_SESSION_TOKEN: 't' })).toBeUndefined();
    expect(environmentCredentials({ AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: 'x' })).toBeUndefined();
  });
});
