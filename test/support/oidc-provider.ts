/**
 * Starts oidc-provider (a certified OAuth 2.0 server) on 127.0.0.1 as an independent peer for the
 * service's token client: `client_credentials` with `client_secret_basic`, the token endpoint at the
 * Identity Cloud path `/<customer-id>/login/token`, opaque access tokens.
 *
 * oidc-provider decodes the Basic credentials as RFC 6749 §2.3.1 says (form-urlencoded id and secret),
 * so it tells whether a client encodes them before Base64.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

// @ts-expect-error -- oidc-provider ships no type declarations.
import Provider from 'oidc-provider';

/** A running oidc-provider. */
export interface OidcPeer {
  /** `http://127.0.0.1:PORT` */
  readonly issuer: string;
  /** `${issuer}/<customer-id>/login/token` */
  readonly tokenEndpoint: string;
  /** Closes the server and destroys open connections. */
  close(): Promise<void>;
}

/** Options of {@link startOidcProvider}. */
export interface OidcPeerOptions {
  clientId: string;
  clientSecret: string;
  /**
   * The scopes the provider knows and the client may ask for. oidc-provider accepts any RFC 6749 §3.3
   * scope token (printable ASCII but space, `"` and `\`), so Identity Cloud scopes like `*:webhooks/**`.
   */
  scopes: string[];
  /** Access token lifetime in seconds; default 3600. */
  accessTokenTtl?: number;
  /** Customer id in the token endpoint path; default `01000000-0000-3000-9000-000000000000`. */
  customerId?: string;
}

type Stored = { payload: Record<string, unknown>; expiresAt?: number };

/** In-memory storage, one per provider (oidc-provider's own warns that it is for development only). */
function memoryAdapter() {
  const store = new Map<string, Stored>();
  return class MemoryAdapter {
    constructor(private readonly model: string) {}

    private key(id: string): string {
      return `${this.model}:${id}`;
    }

    async upsert(id: string, payload: Record<string, unknown>, expiresIn?: number): Promise<void> {
      const expiresAt = expiresIn === undefined ? undefined : Date.now() + expiresIn * 1000;
      store.set(this.key(id), { payload, ...(expiresAt === undefined ? {} : { expiresAt }) });
    }

    async find(id: string): Promise<Record<string, unknown> | undefined> {
      const entry = store.get(this.key(id));
      if (entry === undefined) return undefined;
      if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
        store.delete(this.key(id));
        return undefined;
      }
      return entry.payload;
    }

    async findByUserCode(): Promise<undefined> {
      return undefined;
    }

    async findByUid(): Promise<undefined> {
      return undefined;
    }

    async consume(id: string): Promise<void> {
      const entry = store.get(this.key(id));
      if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
    }

    async destroy(id: string): Promise<void> {
      store.delete(this.key(id));
    }

    async revokeByGrantId(): Promise<void> {}
  };
}

/** Starts oidc-provider on a free port of 127.0.0.1 with one confidential client. */
export async function startOidcProvider(options: OidcPeerOptions): Promise<OidcPeer> {
  const customerId = options.customerId ?? '01000000-0000-3000-9000-000000000000';
  const tokenPath = `/${customerId}/login/token`;

  // The issuer must contain the port, which is known only once listening: listen first, mount after.
  let handler: RequestListener | undefined;
  const server = createServer((req, res) => {
    if (handler) handler(req, res);
    else res.writeHead(503).end();
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // Ephemeral keys: ID tokens are never issued here, but oidc-provider needs a signing key.
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'ES256', kid: 'ephemeral' };

  const provider = new Provider(issuer, {
    adapter: memoryAdapter(),
    clients: [
      {
        client_id: options.clientId,
        client_secret: options.clientSecret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'ES256',
        scope: options.scopes.join(' '),
      },
    ],
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: false },
      introspection: { enabled: false },
      revocation: { enabled: false },
    },
    jwks: { keys: [signingKey] },
    routes: { token: tokenPath },
    scopes: options.scopes,
    ttl: { ClientCredentials: options.accessTokenTtl ?? 3600 },
  });
  handler = provider.callback() as RequestListener;

  return {
    issuer,
    tokenEndpoint: `${issuer}${tokenPath}`,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
