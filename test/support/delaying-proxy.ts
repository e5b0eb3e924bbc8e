import { connect, createServer, type Socket } from 'node:net';

/** What the proxy does with the answers of its target. */
export type ProxyMode =
  /** Pass every byte on at once. */
  | { readonly kind: 'pass' }
  /** Hold every chunk of every answer this long before passing it on: a slow dependency. */
  | { readonly kind: 'slow'; readonly delayMs: number }
  /** Accept connections and requests, and never answer: a dependency that stopped answering. */
  | { readonly kind: 'silent' };

/** A TCP proxy on 127.0.0.1 in front of a real server (moto), misbehaving as told. */
export interface DelayingProxy {
  /** `http://127.0.0.1:<port>`: an SDK client's `endpoint`. */
  readonly endpoint: string;
  mode: ProxyMode;
  /** Connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

/**
 * Start a proxy to `target` (an `http://host:port` URL). Requests always reach the target (when not
 * silent), so only the answers are late or missing — what a slow or stalled AWS endpoint looks like.
 */
export async function startDelayingProxy(
  target: string,
  mode: ProxyMode = { kind: 'pass' },
): Promise<DelayingProxy> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  let connections = 0;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server = createServer((client) => {
    connections += 1;
    track(client);
    if (proxy.mode.kind === 'silent') {
      client.resume(); // read and drop the requests; answer nothing, ever
      return;
    }
    const upstream = connect(Number(port), hostname);
    track(upstream);
    client.pipe(upstream);
    // Everything passed on to the client, in order, including the end of the connection: the last
    // delayed write.
    let passed = Promise.resolve();
    const later = (delayMs: number, action: () => void) => {
      passed = passed.then(
        () =>
          new Promise<void>((resolve) =>
            setTimeout(() => {
              if (!client.destroyed) action();
              resolve();
            }, delayMs).unref(),
          ),
      );
    };
    let sentAt = 0;
    upstream.on('data', (chunk: Buffer) => {
      const current = proxy.mode;
      if (current.kind === 'silent') return;
      // Each answer is late by the delay: a chunk waits for what is before it, then what is left of its own.
      const delayMs = current.kind === 'slow' ? current.delayMs : 0;
      const due = Date.now() + delayMs;
      later(Math.max(0, due - Math.max(sentAt, Date.now())), () => client.write(chunk));
      sentAt = due;
    });
    upstream.on('close', () => later(0, () => client.end()));
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('the proxy has no port');
  const proxy: DelayingProxy = {
    endpoint: `http://127.0.0.1:${address.port}`,
    mode,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  return proxy;
}
