/**
 * Virtual time for protocol simulations: timers fire in order of their due time, and the clock moves only
 * when every simulated actor is parked on a timer. Real asynchronous work (a DynamoDB call to moto) can be
 * mixed in: wrapped with {@link VirtualTime.track}, the clock stands still until it settles, so the same
 * simulation runs on the in-memory store and on moto with identical timing.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';

interface Timer {
  readonly at: number;
  readonly sequence: number;
  readonly fire: () => void;
}

/** A shared virtual clock and timer queue. */
export class VirtualTime {
  private current: number;
  private readonly timers: Timer[] = [];
  private sequence = 0;
  private realWork = 0;

  constructor(start = 1_800_000_000_000) {
    this.current = start;
  }

  /** Global virtual epoch ms. */
  now = (): number => this.current;

  /** Resolve after `ms` of virtual time. */
  sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => this.at(this.current + Math.max(0, ms), resolve));

  /** Run `fire` when the clock reaches `at`. */
  at(at: number, fire: () => void): void {
    this.timers.push({ at: Math.max(at, this.current), sequence: this.sequence++, fire });
    this.timers.sort((left, right) => left.at - right.at || left.sequence - right.sequence);
  }

  /** Real asynchronous work: the clock does not move until it settles. */
  async track<T>(work: () => Promise<T>): Promise<T> {
    this.realWork += 1;
    try {
      return await work();
    } finally {
      this.realWork -= 1;
    }
  }

  /** Let every actor run until it parks on a timer (or the queue is empty), then fire the next timer; repeat. */
  async run(): Promise<void> {
    for (;;) {
      await this.settle();
      const next = this.timers.shift();
      if (next === undefined) return;
      this.current = Math.max(this.current, next.at);
      next.fire();
    }
  }

  private async settle(): Promise<void> {
    // Microtasks run before the next turn; real work (sockets) finishes in turns of its own.
    let quiet = 0;
    while (quiet < 3) {
      await nextTurn();
      quiet = this.realWork === 0 ? quiet + 1 : 0;
    }
  }
}
