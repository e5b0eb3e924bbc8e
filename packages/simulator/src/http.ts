/**
 * The wire side of the simulator's endpoints: reading a request body, writing an {@link Answer}, and the
 * ways a misbehaving peer writes one (cut in two and stalled or reset, or a body without end), all paced
 * by a {@link Pacing} that the simulator's close cuts short.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { type Answer, JSON_TYPE, NO_STORE } from './answers.js';

const MAX_BODY_BYTES = 16 * 1024;
// Lets the client receive the partial body before the reset; an RST discards unsent data.
const RESET_AFTER_WRITE_MS = 30;
const ENDLESS_BODY_LIMIT_BYTES = 2 ** 30;
const ENDLESS_BODY_CHUNK_BYTES = 16 * 1024;

/**
 * How the simulator paces its answers: the configured latency before each endpoint answers and the
 * delays of faults. Every wait ends at once when the simulator closes, so a stalled request never holds
 * up a close.
 */
export class Pacing {
  private stopped = false;
  private readonly sleepers = new Set<() => void>();

  /** @param latencyMs the delay before answering each token or secret request */
  constructor(private readonly latencyMs: number) {}

  /** Whether the simulator is closing: no wait lasts, and an endless body ends. */
  get closing(): boolean {
    return this.stopped;
  }

  /** Waits the configured latency: `true` after it, `false` (at once) when the simulator closes. */
  latency(): Promise<boolean> {
    return this.sleep(this.latencyMs);
  }

  /** Resolves `true` after `ms`, or `false` at once when the simulator closes. */
  sleep(ms: number): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    if (ms <= 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve(false);
      };
      const timer = setTimeout(() => {
        this.sleepers.delete(wake);
        resolve(true);
      }, ms);
      this.sleepers.add(wake);
    });
  }

  /** Marks the simulator closing and ends every wait in progress. */
  stop(): void {
    this.stopped = true;
    for (const wake of [...this.sleepers]) wake();
  }
}

/** The request body as UTF-8, or `undefined` when it exceeds 16 KiB (it is read to its end either way). */
export function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Writes `answer` with its `Content-Length`, unless the response is gone or already under way. */
export function writeAnswer(res: ServerResponse, answer: Answer): void {
  if (res.destroyed || res.headersSent) return;
  res.writeHead(answer.status, {
    ...answer.headers,
    'Content-Length': String(Buffer.byteLength(answer.body)),
  });
  res.end(answer.body);
}

/**
 * Writes the headers and half the body, then stalls `stallMs` and writes the rest or, without
 * `stallMs`, resets the connection.
 */
export async function writeInTwoParts(
  res: ServerResponse,
  answer: Answer,
  pacing: Pacing,
  stallMs?: number,
): Promise<void> {
  const body = Buffer.from(answer.body, 'utf8');
  const half = Math.floor(body.length / 2);
  res.writeHead(answer.status, { ...answer.headers, 'Content-Length': String(body.length) });
  await new Promise<void>((resolve) => res.write(body.subarray(0, half), () => resolve()));
  if (stallMs !== undefined) {
    if (!(await pacing.sleep(stallMs)) || res.destroyed) return;
    res.end(body.subarray(half));
    return;
  }
  await pacing.sleep(RESET_AFTER_WRITE_MS);
  const socket = res.socket;
  if (socket && !socket.destroyed) {
    if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
    else socket.destroy();
  }
}

/**
 * A 200 JSON body that ends only when the reader closes the connection (or at 1 GiB, or when the
 * simulator closes): with `contentLength`, the headers claim 1 GiB; without, the body is chunked.
 * `progress.endlessBodyBytes` counts, from 0, the bytes handed to the connection as they go.
 */
export async function writeEndlessBody(
  res: ServerResponse,
  contentLength: boolean,
  pacing: Pacing,
  progress: { endlessBodyBytes: number },
): Promise<void> {
  res.writeHead(200, {
    'Content-Type': JSON_TYPE,
    ...NO_STORE,
    ...(contentLength ? { 'Content-Length': String(ENDLESS_BODY_LIMIT_BYTES) } : {}),
  });
  const chunk = Buffer.alloc(ENDLESS_BODY_CHUNK_BYTES, 'x');
  progress.endlessBodyBytes = 0;
  const closed = new Promise<void>((resolve) => res.once('close', () => resolve()));
  while (!res.destroyed && !pacing.closing && progress.endlessBodyBytes < ENDLESS_BODY_LIMIT_BYTES) {
    progress.endlessBodyBytes += chunk.length;
    if (!res.write(chunk)) {
      await Promise.race([new Promise<void>((resolve) => res.once('drain', () => resolve())), closed]);
    }
  }
  res.destroy();
}
