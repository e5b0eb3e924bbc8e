/**
 * The simulator's HTTP server: routes each request to the token endpoint, a client's secret endpoint
 * or an admin endpoint over one {@link SimulatorState}, keeps track of the open connections, and closes
 * without waiting for a stalled request.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import { handleAdmin, isAdminPath } from './admin.js';
import { type Answer, errorAnswer } from './answers.js';
import { Pacing, writeAnswer } from './http.js';
import { handleSecretRead, handleSecretReset, secretPathClientId } from './secret-endpoint.js';
import type { SimulatorState } from './state.js';
import { handleTokenRequest } from './token-endpoint.js';

/** Where and how a {@link SimulatorServer} listens. */
export interface ServerOptions {
  host: string;
  /** 0 for a free port. */
  port: number;
  /** The customer id in the endpoint paths. */
  customerId: string;
  /** Delay in milliseconds before answering each token or secret request. */
  latencyMs: number;
}

/** A simulator's HTTP server on one {@link SimulatorState}. */
export class SimulatorServer {
  /** `/<customer-id>/login/token` */
  readonly tokenPath: string;
  /** `/<customer-id>/config/clients/`, which a client id and `/secret` follow. */
  readonly clientsPath: string;
  private readonly pacing: Pacing;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private closed: Promise<void> | undefined;
  private listeningPort = 0;

  private constructor(
    private readonly state: SimulatorState,
    options: ServerOptions,
  ) {
    this.tokenPath = `/${options.customerId}/login/token`;
    this.clientsPath = `/${options.customerId}/config/clients/`;
    this.pacing = new Pacing(options.latencyMs);
    this.server = createServer((req, res) => this.serve(req, res));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  /** A server over `state`, listening once this resolves. */
  static async listen(state: SimulatorState, options: ServerOptions): Promise<SimulatorServer> {
    const simulator = new SimulatorServer(state, options);
    const { server } = simulator;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    simulator.listeningPort = (server.address() as AddressInfo).port;
    return simulator;
  }

  /** The port the server listens on. */
  get port(): number {
    return this.listeningPort;
  }

  /** Closes the server and destroys every open connection, stalled ones too; once, however often called. */
  close(): Promise<void> {
    if (!this.closed) {
      this.pacing.stop();
      this.closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      this.server.closeAllConnections();
      for (const socket of this.sockets) socket.destroy();
    }
    return this.closed;
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const handled = this.route(req, res, path);
    if (!(handled instanceof Promise)) {
      req.resume();
      writeAnswer(res, handled);
      return;
    }
    handled.catch(() => {
      if (!res.headersSent && !res.destroyed)
        writeAnswer(res, errorAnswer(500, 'server_error', 'simulator error'));
      else res.destroy();
    });
  }

  /** The handling of a request under way, or the answer to one no endpoint takes. */
  private route(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> | Answer {
    const { state, pacing } = this;
    const secretClientId = secretPathClientId(path, this.clientsPath);
    if (secretClientId !== undefined) {
      if (req.method === 'POST') return handleSecretReset(state, pacing, req, res, secretClientId);
      if (req.method === 'GET') return handleSecretRead(state, pacing, req, res, secretClientId);
      return errorAnswer(405, 'invalid_request', 'only GET and POST are allowed', { Allow: 'GET, POST' });
    }
    if (path === this.tokenPath) {
      if (req.method === 'POST') return handleTokenRequest(state, pacing, req, res);
      return errorAnswer(405, 'invalid_request', 'only POST is allowed', { Allow: 'POST' });
    }
    if (isAdminPath(path)) return handleAdmin(state, req, res, path);
    return errorAnswer(404, 'not_found', 'no such endpoint');
  }
}
