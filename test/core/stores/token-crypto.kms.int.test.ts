import { CreateKeyCommand, IncorrectKeyException, KMSClient } from '@aws-sdk/client-kms';
import { KmsDataKeyProvider, tokenEncryptionContext } from '@tvs/core/stores/token-crypto';
import { beforeAll, describe, expect, it } from 'vitest';

const CONTEXT = tokenEncryptionContext('tokens');

import { SealedTokenError } from '@tvs/client/contract';
import { useMoto } from '../../support/harness';

let kms: KMSClient;
let keyId: string;

beforeAll(async () => {
  useMoto();
  kms = new KMSClient({});
  const created = async () => (await kms.send(new CreateKeyCommand({}))).KeyMetadata?.KeyId as string;
  keyId = await created();
});

describe('KmsDataKeyProvider', () => {
  it('opens its own data keys', async () => {
    const provider = new KmsDataKeyProvider(keyId, CONTEXT, kms);
    const made = await provider.generate();
    expect(Buffer.compare(await provider.decrypt(made.encrypted), made.plaintext)).toBe(0);
  });

  it('answers SealedTokenError for a data key KMS cannot open (InvalidCiphertextException), matched by class', async () => {
    const provider = new KmsDataKeyProvider(keyId, CONTEXT, kms);
    const made = await provider.generate();
    const garbled = Buffer.from(made.encrypted);
    garbled[60] = (garbled[60] ?? 0) ^ 1;

    await expect(provider.decrypt(garbled)).rejects.toBeInstanceOf(SealedTokenError);
  });

  it('answers SealedTokenError when KMS says the data key is another key’s (IncorrectKeyException)', async () => {
    // moto answers AccessDeniedException where KMS answers IncorrectKeyException: the one fault here that
    // no local server produces, so the SDK's own exception is thrown from the client's middleware.
    const client = new KMSClient({ maxAttempts: 1 });
    client.middlewareStack.add(
      () => async () => {
        throw new IncorrectKeyException({
          message: 'the ciphertext was not made by this key',
          $metadata: {},
        });
      },
      { step: 'initialize', name: 'incorrect-key' },
    );

    await expect(
      new KmsDataKeyProvider(keyId, CONTEXT, client).decrypt(Buffer.from('x')),
    ).rejects.toBeInstanceOf(SealedTokenError);
  });

  it('does not open a data key under another encryption context: one table’s keys never open for another', async () => {
    const made = await new KmsDataKeyProvider(keyId, tokenEncryptionContext('table-a'), kms).generate();

    await expect(
      new KmsDataKeyProvider(keyId, tokenEncryptionContext('table-b'), kms).decrypt(made.encrypted),
    ).rejects.toBeInstanceOf(SealedTokenError);
  });

  it('passes any other failure on as it is (KMS unreachable is not a foreign key)', async () => {
    const unreachable = new KmsDataKeyProvider(
      keyId,
      CONTEXT,
      new KMSClient({ endpoint: 'http://127.0.0.1:9', maxAttempts: 1 }),
    );
    const failure = await unreachable.decrypt(Buffer.from('anything')).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    expect(failure).not.toBeInstanceOf(SealedTokenError);
  });
});
