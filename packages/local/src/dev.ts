/**
 * `tvs dev --config FILE`: run *your* configuration on this machine. Everything `tvs serve` needs beside
 * the configuration is derived from it:
 *
 * - an Identity Cloud simulator on 127.0.0.1 with one configuration client per configured client, whose
 *   token policy allows exactly the client's `allowedScopes` (client id: the client's `clientId` if it has
 *   one, else `dev-<name>`; a secret made at start), every `tokenEndpoint` pointed at it;
 * - a secrets file (in a temporary folder, removed at exit) holding those secrets under each `secretId`;
 * - one local caller per grant principal: its ARN with `*` in a role name read as `dev`, and an access key
 *   derived from the principal (stable across runs; it works only against this local server).
 *
 * The file's own `local` section, if any, is not used. DynamoDB is embedded unless `AWS_ENDPOINT_URL`
 * points elsewhere, as for `tvs serve`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EndpointKind, SIGNING_SERVICE, sha256Hex } from '@tvs/client/contract';
import { parseServiceConfig } from '@tvs/core/config/service-config';
import { type IdentityCloudSimulator, startIdentityCloudSimulator } from '@tvs/simulator/identity-cloud';
import { readJsonFile } from './local-config.js';
import { type LocalServer, startLocalServer } from './server.js';

const HOST = '127.0.0.1';
const REGION = 'us-east-1';

/** A caller `tvs dev` made for a grant principal. */
export interface DevCaller {
  readonly principal: string;
  readonly arn: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** What its grants allow: one `tvs token` example each. */
  readonly grants: readonly { readonly client: string; readonly scope: string }[];
}

/** A running `tvs dev`. */
export interface DevSession {
  readonly configPath: string;
  readonly server: LocalServer;
  readonly simulator: IdentityCloudSimulator;
  readonly callers: readonly DevCaller[];
  readonly clients: readonly string[];
  close(): Promise<void>;
}

/** How to start `tvs dev`. */
export interface DevOptions {
  readonly configPath: string;
  /** @default 8787 */
  readonly port?: number;
  /** @default 0 (a free port) */
  readonly simulatorPort?: number;
  readonly endpointKind?: EndpointKind;
  readonly env: NodeJS.ProcessEnv;
}

interface ClientEntry {
  tokenEndpoint: string;
  secretId: string;
  allowedScopes: string[];
  clientId?: unknown;
}

/** The local caller of a grant principal: a fixed ARN and key derived from it. */
export function devCaller(principal: string): Omit<DevCaller, 'grants'> {
  const digest = sha256Hex(`tvs dev caller ${principal}`);
  return {
    principal,
    arn: principal.replaceAll('*', 'dev'),
    accessKeyId: `AKIDTVSDEV${digest.slice(0, 10).toUpperCase()}`,
    secretAccessKey: `tvsdev${digest.slice(10, 44)}`,
  };
}

/** Start the simulator and the server for `options.configPath`; see the module comment. */
export async function startDev(options: DevOptions): Promise<DevSession> {
  const document = (await readJsonFile(options.configPath)) as Record<string, unknown>;
  // Every problem of the file itself, as tvs validate reports them, before anything starts.
  const config = parseServiceConfig(document);
  const clients = document.clients as Record<string, ClientEntry>;
  const names = Object.keys(config.document.clients);

  const simulated = names.map((name) => {
    const entry = clients[name] as ClientEntry;
    return {
      name,
      clientId: typeof entry.clientId === 'string' && entry.clientId !== '' ? entry.clientId : `dev-${name}`,
      clientSecret: randomBytes(24).toString('base64url'),
      allowedScopes: [...entry.allowedScopes],
    };
  });
  const simulator = await startIdentityCloudSimulator({
    host: HOST,
    port: options.simulatorPort ?? 0,
    clients: simulated.map(({ clientId, clientSecret, allowedScopes }) => ({
      clientId,
      clientSecret,
      allowedScopes,
    })),
  });
  const folder = await mkdtemp(join(tmpdir(), 'tvs-dev-'));
  const cleanUp = async () => {
    await simulator.close();
    await rm(folder, { recursive: true, force: true });
  };
  try {
    const secrets: Record<string, { client_id: string; client_secret: string }> = {};
    for (const client of simulated) {
      const { secretId } = clients[client.name] as ClientEntry;
      secrets[secretId] = { client_id: client.clientId, client_secret: client.clientSecret };
    }
    const secretsFile = join(folder, 'secrets.json');
    await writeFile(secretsFile, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });

    const byPrincipal = new Map<string, DevCaller>();
    for (const grant of config.document.grants) {
      const caller = byPrincipal.get(grant.principal) ?? { ...devCaller(grant.principal), grants: [] };
      byPrincipal.set(grant.principal, {
        ...caller,
        grants: [...caller.grants, { client: grant.client, scope: grant.scopes.join(' ') }],
      });
    }
    const callers = [...byPrincipal.values()];
    const devClients: Record<string, unknown> = {};
    for (const name of names) {
      devClients[name] = { ...(clients[name] as ClientEntry), tokenEndpoint: simulator.tokenEndpoint };
    }
    const { local: _ignored, ...rest } = document;
    const server = await startLocalServer({
      config: {
        ...rest,
        clients: devClients,
        local: {
          secretsFile,
          region: REGION,
          callers: Object.fromEntries(
            callers.map((caller) => [
              caller.accessKeyId,
              { secretAccessKey: caller.secretAccessKey, arn: caller.arn },
            ]),
          ),
        },
      },
      configDir: folder,
      host: HOST,
      port: options.port ?? 8787,
      env: options.env,
      ...(options.endpointKind ? { endpointKind: options.endpointKind } : {}),
    });
    let closing: Promise<void> | undefined;
    return {
      configPath: options.configPath,
      server,
      simulator,
      callers,
      clients: names,
      close: () => {
        closing ??= Promise.allSettled([server.close()]).then(cleanUp);
        return closing;
      },
    };
  } catch (error) {
    await cleanUp();
    throw error;
  }
}

/** Single-quote `text` for a POSIX shell. */
function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./:=@-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

/** What `tvs dev` prints once it runs: where, and a `tvs token` command per grant. */
export function devBanner(session: DevSession): string {
  const { server } = session;
  const service =
    server.endpointKind === 'rest-api' ? '' : ` --service ${SIGNING_SERVICE[server.endpointKind]}`;
  const lines = [
    `identity-cloud simulator listening on ${session.simulator.url} (${session.clients.length} client${session.clients.length === 1 ? '' : 's'}: ${session.clients.join(', ')})`,
    `listening on ${server.url}`,
    '',
    `Token Vending Service (${server.mode}, ${server.endpointKind}) running ${session.configPath} against the`,
    'Identity Cloud simulator. Callers, one per grant principal (local credentials, not AWS keys):',
  ];
  if (server.dynamodbEndpoint) {
    lines.push(
      '',
      `DynamoDB is embedded at ${server.dynamodbEndpoint} (table ${server.tableName}); purge a token with`,
      `  AWS_ENDPOINT_URL_DYNAMODB=${server.dynamodbEndpoint} AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local npx tvs purge --client NAME --scope SCOPE`,
    );
  }
  if (session.callers.length === 0) lines.push('', '  (the configuration has no grants)');
  for (const caller of session.callers) {
    lines.push('', `  ${caller.arn}`);
    for (const grant of caller.grants) {
      lines.push(
        `    AWS_ACCESS_KEY_ID=${caller.accessKeyId} AWS_SECRET_ACCESS_KEY=${caller.secretAccessKey} AWS_REGION=${REGION} npx tvs token --endpoint ${server.url}${service} --client ${shellQuote(grant.client)} --scope ${shellQuote(grant.scope)}`,
      );
    }
  }
  lines.push('', 'Press Ctrl-C to stop.', '');
  return lines.join('\n');
}
