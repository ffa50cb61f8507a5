// A manual Clock for tests: time moves only when a test says so.
import type { Clock } from "../../src/clock.js";

interface Timer {
  at: number;
  seq: number;
  resolve: () => void;
}

/** Lets every queued microtask and immediate run (one macrotask turn). */
export async function flushPending(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

export class FakeClock implements Clock {
  /** Every `ms` passed to sleep, in call order (including aborted ones). */
  readonly sleeps: number[] = [];
  private time: number;
  private seq = 0;
  private timers: Timer[] = [];

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    return new Promise<void>((resolve) => {
      if (signal?.aborted) {
        resolve();
        return;
      }
      const timer: Timer = {
        at: this.time + ms,
        seq: this.seq++,
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.remove(timer);
        resolve();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.timers.push(timer);
    });
  }

  /** How many sleeps wait for virtual time now. */
  get pending(): number {
    return this.timers.length;
  }

  /** The `at` of each pending timer, earliest first. */
  pendingDeadlines(): number[] {
    return this.ordered().map((timer) => timer.at);
  }

  async flush(): Promise<void> {
    await flushPending();
  }

  /** Moves virtual time forward by `ms`, firing every timer due on the way
   * (in order, with the time set to each timer's deadline as it fires). */
  async advance(ms: number): Promise<void> {
    const target = this.time + ms;
    for (;;) {
      await flushPending();
      const next = this.ordered()[0];
      if (next === undefined || next.at > target) break;
      this.fire(next);
    }
    this.time = target;
    await flushPending();
  }

  /** Runs virtual time until `promise` settles: flushes pending work, and
   * when the promise is still pending jumps to the earliest timer and fires
   * it. Throws when nothing is pending and the promise has not settled. */
  async settle<T>(promise: Promise<T>, maxSteps = 10_000): Promise<T> {
    const state: { done: boolean; ok: boolean; value?: T; error?: unknown } = { done: false, ok: false };
    promise.then(
      (value) => {
        Object.assign(state, { done: true, ok: true, value });
      },
      (error: unknown) => {
        Object.assign(state, { done: true, ok: false, error });
      },
    );
    for (let step = 0; step < maxSteps; step++) {
      await flushPending();
      if (state.done) {
        if (state.ok) return state.value as T;
        throw state.error;
      }
      const next = this.ordered()[0];
      if (next === undefined) {
        throw new Error(`FakeClock.settle: deadlock at t=${this.time}: the promise is pending and no timer is`);
      }
      this.fire(next);
    }
    throw new Error(`FakeClock.settle: still pending after ${maxSteps} timers`);
  }

  private fire(timer: Timer): void {
    this.remove(timer);
    if (timer.at > this.time) this.time = timer.at;
    timer.resolve();
  }

  private remove(timer: Timer): void {
    this.timers = this.timers.filter((t) => t !== timer);
  }

  private ordered(): Timer[] {
    return [...this.timers].sort((a, b) => a.at - b.at || a.seq - b.seq);
  }
}
