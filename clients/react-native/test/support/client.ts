// A client over the fake fetch and the fake clock, recording its attempts.
import { createFunctionsClient } from "../../src/index.js";
import type { AccessTokenProvider, AttemptReport, FunctionsClient, FunctionsClientOptions } from "../../src/index.js";
import { FakeClock } from "./fake-clock.js";
import { FakeFetch } from "./fake-fetch.js";
import type { Reply } from "./fake-fetch.js";

export const BASE_URL = "https://api.test";
/** The per-attempt timeout the client uses by default (it is a clock sleep too). */
export const DEFAULT_TIMEOUT_MS = 15_000;

export interface Harness {
  client: FunctionsClient;
  clock: FakeClock;
  fetch: FakeFetch;
  attempts: AttemptReport[];
  tokenRequests: Array<{ forceRefresh: boolean }>;
  /** The clock's sleeps other than the per-attempt timeouts: the retry waits. */
  waits(): number[];
}

export function harness(replies: Reply[] = [], options: Partial<FunctionsClientOptions> = {}): Harness {
  const clock = new FakeClock();
  const fetch = new FakeFetch(...replies);
  const attempts: AttemptReport[] = [];
  const tokenRequests: Array<{ forceRefresh: boolean }> = [];
  const inner: AccessTokenProvider = options.getAccessToken ?? (({ forceRefresh }) => (forceRefresh ? "token-2" : "token-1"));
  const client = createFunctionsClient({
    baseUrl: BASE_URL,
    fetch: fetch.fetch,
    clock,
    random: () => 0.5,
    onAttempt: (report) => attempts.push(report),
    ...options,
    getAccessToken: (request) => {
      tokenRequests.push({ ...request });
      return inner(request);
    },
  });
  const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return { client, clock, fetch, attempts, tokenRequests, waits: () => clock.sleeps.filter((ms) => ms !== timeout) };
}
