import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { backoffMs, DEFAULT_RETRY, retryDelayMs } from "../../src/index.js";
import type { KitError, Result } from "../../src/index.js";
import { DEFAULT_TIMEOUT_MS, harness } from "../support/client.js";
import { errorReply, okReply } from "../support/fake-fetch.js";
import type { Reply } from "../support/fake-fetch.js";

const TOKEN_BODY = { sessionId: "11111111-1111-4111-8111-111111111111" };
const half = () => 0.5;
const BACKOFFS = [0, 1, 2].map((retry) => backoffMs(retry, DEFAULT_RETRY, half));

function rateLimited(seconds = 5): Reply {
  return errorReply(429, "RATE_LIMITED", { retryable: true, retryAfterSeconds: seconds }, { "Retry-After": String(seconds) });
}
function internal(): Reply {
  return errorReply(500, "INTERNAL_ERROR", { retryable: true });
}
function timeout(): Reply {
  return errorReply(504, "TIMEOUT", { retryable: true });
}
function unavailable(seconds = 5): Reply {
  return errorReply(503, "SERVICE_UNAVAILABLE", { retryable: true, retryAfterSeconds: seconds }, { "Retry-After": String(seconds) });
}
const TOKEN_OK = okReply({ token: "lk", wsUrl: "wss://lk", roomName: "r", identity: "u", expiresAt: "2030-01-01T00:00:00Z" });

function failed<T>(result: Result<T>): KitError {
  assert.equal(result.ok, false, "expected a failure");
  if (result.ok) throw new Error("unreachable");
  return result.error;
}

describe("backoffMs", () => {
  test("equal jitter: half the exponential delay fixed, half random", () => {
    assert.deepEqual(BACKOFFS, [375, 750, 1500]);
    assert.ok(BACKOFFS[0]! < BACKOFFS[1]! && BACKOFFS[1]! < BACKOFFS[2]!);
  });

  test("random 0 and 0.999 differ and stay within [half, full] of the exponential delay", () => {
    for (let retry = 0; retry < 6; retry++) {
      const exponential = Math.min(DEFAULT_RETRY.maxDelayMs, DEFAULT_RETRY.baseDelayMs * 2 ** retry);
      const low = backoffMs(retry, DEFAULT_RETRY, () => 0);
      const high = backoffMs(retry, DEFAULT_RETRY, () => 0.999);
      assert.equal(low, exponential / 2);
      assert.notEqual(low, high);
      assert.ok(high > low && high <= exponential, `retry ${retry}: ${high} in (${low}, ${exponential}]`);
    }
  });

  test("never above maxDelayMs", () => {
    assert.equal(backoffMs(20, DEFAULT_RETRY, () => 0.999999), DEFAULT_RETRY.maxDelayMs);
  });
});

describe("retry policy: RATE_LIMITED", () => {
  test("waits exactly the Retry-After (5000 ms) once, then succeeds", async () => {
    const h = harness([rateLimited(5), TOKEN_OK]);
    const pending = h.client.getLivekitToken(TOKEN_BODY);
    await h.clock.flush();
    assert.equal(h.fetch.requests.length, 1);
    await h.clock.advance(4999);
    assert.equal(h.fetch.requests.length, 1, "not resent before the Retry-After");
    await h.clock.advance(1);
    const result = await h.clock.settle(pending);
    assert.equal(result.ok, true);
    assert.equal(h.fetch.requests.length, 2);
    assert.deepEqual(h.clock.sleeps, [DEFAULT_TIMEOUT_MS, 5000, DEFAULT_TIMEOUT_MS]);
    assert.equal(h.clock.now(), 5000);
  });

  test("a second RATE_LIMITED is the result, with attempts 2 (no third attempt)", async () => {
    const h = harness([rateLimited(5), rateLimited(5), TOKEN_OK]);
    const error = failed(await h.clock.settle(h.client.getLivekitToken(TOKEN_BODY)));
    assert.equal(error.code, "RATE_LIMITED");
    assert.equal(error.attempts, 2);
    assert.equal(error.retryAfterSeconds, 5);
    assert.equal(h.fetch.requests.length, 2);
    assert.equal(h.fetch.remaining, 1);
    assert.deepEqual(h.waits(), [5000]);
  });

  test("without a Retry-After the default (5 s) is waited", async () => {
    const h = harness([{ status: 429, body: "Too Many Requests" }, TOKEN_OK]);
    assert.equal((await h.clock.settle(h.client.getLivekitToken(TOKEN_BODY))).ok, true);
    assert.deepEqual(h.waits(), [DEFAULT_RETRY.defaultRetryAfterSeconds * 1000]);
  });

  test("a Retry-After above maxRetryAfterSeconds (30) is not waited for", async () => {
    const h = harness([rateLimited(31), TOKEN_OK]);
    const error = failed(await h.clock.settle(h.client.getLivekitToken(TOKEN_BODY)));
    assert.equal(error.code, "RATE_LIMITED");
    assert.equal(error.retryAfterSeconds, 31);
    assert.equal(error.attempts, 1);
    assert.equal(h.fetch.requests.length, 1);
    assert.deepEqual(h.waits(), []);
    assert.equal(h.clock.now(), 0);
  });

  test("a Retry-After of exactly maxRetryAfterSeconds is waited for", async () => {
    const h = harness([rateLimited(30), TOKEN_OK]);
    assert.equal((await h.clock.settle(h.client.getLivekitToken(TOKEN_BODY))).ok, true);
    assert.deepEqual(h.waits(), [30_000]);
  });

  test("maxRetryAfterSeconds is configurable", async () => {
    const h = harness([rateLimited(60), TOKEN_OK], { retry: { maxRetryAfterSeconds: 60 } });
    assert.equal((await h.clock.settle(h.client.getLivekitToken(TOKEN_BODY))).ok, true);
    assert.deepEqual(h.waits(), [60_000]);
  });
});

describe("retry policy: SERVICE_UNAVAILABLE (the kit's extension)", () => {
  test("waits the Retry-After once, then succeeds", async () => {
    const h = harness([unavailable(5), TOKEN_OK]);
    assert.equal((await h.clock.settle(h.client.getLivekitToken(TOKEN_BODY))).ok, true);
    assert.equal(h.fetch.requests.length, 2);
    assert.deepEqual(h.waits(), [5000]);
  });

  test("twice is the result, with attempts 2", async () => {
    const h = harness([unavailable(3), unavailable(3), TOKEN_OK]);
    const error = failed(await h.clock.settle(h.client.getLivekitToken(TOKEN_BODY)));
    assert.equal(error.code, "SERVICE_UNAVAILABLE");
    assert.equal(error.attempts, 2);
    assert.deepEqual(h.waits(), [3000]);
  });

  test("RATE_LIMITED and SERVICE_UNAVAILABLE share the single wait", async () => {
    const h = harness([rateLimited(2), unavailable(2), TOKEN_OK]);
    const error = failed(await h.clock.settle(h.client.getLivekitToken(TOKEN_BODY)));
    assert.equal(error.code, "SERVICE_UNAVAILABLE");
    assert.equal(error.attempts, 2);
  });

  test("the server's own SERVICE_UNAVAILABLE (503 JSON) on a non-idempotent route waits once too", async () => {
    const h = harness([unavailable(5), okReply({ call: {} }, 201)]);
    assert.equal((await h.clock.settle(h.client.callInitiate({ calleeId: "c" }))).ok, true);
    assert.equal(h.fetch.requests.length, 2);
  });

  test("call-initiate's resend after a 503 carries the first attempt's Idempotency-Key; the next call a fresh one", async () => {
    const h = harness([unavailable(5), okReply({ call: {} }, 201), okReply({ call: {} }, 201)]);
    assert.equal((await h.clock.settle(h.client.callInitiate({ calleeId: "c" }))).ok, true);
    assert.equal((await h.clock.settle(h.client.callInitiate({ calleeId: "c" }))).ok, true);
    const keys = h.fetch.requests.map((request) => request.headers["idempotency-key"]);
    assert.equal(keys.length, 3);
    for (const key of keys) assert.match(key ?? "", /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
    assert.equal(keys[1], keys[0], "the resend is the same call");
    assert.notEqual(keys[2], keys[0], "a new call has its own key");
    const requestIds = h.fetch.requests.map((request) => request.headers["x-request-id"]);
    assert.notEqual(requestIds[1], requestIds[0], "each attempt still has its own request id");
  });

  test("only call-initiate sends an Idempotency-Key", async () => {
    const h = harness([TOKEN_OK, okReply({ changed: true }), okReply({ token: {} })]);
    await h.clock.settle(h.client.getLivekitToken(TOKEN_BODY));
    await h.clock.settle(h.client.callAction({ callId: "c", action: "cancel" }));
    await h.clock.settle(h.client.pushTokenRegister({ token: "t", platform: "ios" }));
    assert.deepEqual(h.fetch.requests.map((request) => request.headers["idempotency-key"]), [undefined, undefined, undefined]);
  });

  test(
    "a gateway's bare 502/504 on a non-idempotent route is not resent (the answer may be lost)",
    async () => {
      for (const [status, code] of [[502, "SERVICE_UNAVAILABLE"], [504, "TIMEOUT"]] as const) {
        const h = harness([{ status, body: "<html>Bad Gateway</html>" }, okReply({ call: {} }, 201)]);
        const result = await h.clock.settle(h.client.callInitiate({ calleeId: "c" }));
        assert.equal(h.fetch.requests.length, 1, `bare ${status}: call-initiate sent once`);
        assert.equal(failed(result).code, code);
      }
    },
  );
});

describe("retry policy: INTERNAL_ERROR and NETWORK_ERROR back off", () => {
  test("INTERNAL_ERROR: 4 attempts, backoffMs(0..2) between them, then the error with attempts 4", async () => {
    const h = harness([internal(), internal(), internal(), internal(), TOKEN_OK]);
    const error = failed(await h.clock.settle(h.client.getLivekitToken(TOKEN_BODY)));
    assert.equal(error.code, "INTERNAL_ERROR");
    assert.equal(error.attempts, 4);
    assert.equal(h.fetch.requests.length, 4);
    assert.equal(h.fetch.remaining, 1);
    assert.deepEqual(h.waits(), BACKOFFS);
    assert.deepEqual(h.waits(), [375, 750, 1500]);
    assert.equal(h.clock.now(), 375 + 750 + 1500);
  });

  test("INTERNAL_ERROR then success", async () => {
    const h = harness([internal(), internal(), TOKEN_OK]);
    const result = await h.clock.settle(h.client.getLivekitToken(TOKEN_BODY));
    assert.equal(result.ok, true);
    assert.deepEqual(h.waits(), [375, 750]);
  });

  test("each backoff is waited in full before the next attempt", async () => {
    const h = harness([internal(), internal(), TOKEN_OK]);
    const pending = h.client.getLivekitToken(TOKEN_BODY);
    await h.clock.flush();
    assert.equal(h.fetch.requests.length, 1);
    await h.clock.advance(374);
    assert.equal(h.fetch.requests.length, 1);
    await h.clock.advance(1);
    assert.equal(h.fetch.requests.length, 2);
    await h.clock.advance(749);
    assert.equal(h.fetch.requests.length, 2);
    await h.clock.advance(1);
    assert.equal((await h.clock.settle(pending)).ok, true);
    assert.equal(h.fetch.requests.length, 3);
  });

  test("NETWORK_ERROR (fetch rejects): 4 attempts on an idempotent route, then attempts 4", async () => {
    const h = harness(["network", "network", "network", "network", TOKEN_OK]);
    const error = failed(await h.clock.settle(h.client.getLivekitToken(TOKEN_BODY)));
    assert.equal(error.code, "NETWORK_ERROR");
    assert.equal(error.attempts, 4);
    assert.equal(error.httpStatus, null);
    assert.equal(error.retryable, true);
    assert.equal(h.fetch.requests.length, 4);
    assert.deepEqual(h.waits(), [375, 750, 1500]);
  });

  test("jitter: random 0 and 0.999 give different delays, within [half, full] of the exponential value", async () => {
    const low = harness(["network", "network", "network", "network"], { random: () => 0 });
    const high = harness(["network", "network", "network", "network"], { random: () => 0.999 });
    await low.clock.settle(low.client.getLivekitToken(TOKEN_BODY));
    await high.clock.settle(high.client.getLivekitToken(TOKEN_BODY));
    assert.deepEqual(low.waits(), [250, 500, 1000]);
    assert.equal(high.waits().length, 3);
    high.waits().forEach((delay, retry) => {
      const exponential = DEFAULT_RETRY.baseDelayMs * 2 ** retry;
      assert.notEqual(delay, low.waits()[retry]);
      assert.ok(delay >= exponential / 2 && delay <= exponential, `${delay} within [${exponential / 2}, ${exponential}]`);
    });
  });

  test("maxRetries and baseDelayMs are configurable", async () => {
    const h = harness([internal(), internal(), internal()], { retry: { maxRetries: 1, baseDelayMs: 100 } });
    const error = failed(await h.clock.settle(h.client.getLivekitToken(TOKEN_BODY)));
    assert.equal(error.attempts, 2);
    assert.deepEqual(h.waits(), [75]);
  });

  test("backoff and wait budgets are separate: RATE_LIMITED then 3 INTERNAL_ERRORs then success", async () => {
    const h = harness([rateLimited(1), internal(), internal(), internal(), TOKEN_OK]);
    assert.equal((await h.clock.settle(h.client.getLivekitToken(TOKEN_BODY))).ok, true);
    assert.equal(h.fetch.requests.length, 5);
    assert.deepEqual(h.waits(), [1000, 375, 750, 1500]);
  });
});

describe("retry policy: TIMEOUT backs off like INTERNAL_ERROR", () => {
  test("4 attempts, backoffMs(0..2) between them, then the error with attempts 4", async () => {
    const h = harness([timeout(), timeout(), timeout(), timeout(), TOKEN_OK]);
    const error = failed(await h.clock.settle(h.client.getLivekitToken(TOKEN_BODY)));
    assert.equal(error.code, "TIMEOUT");
    assert.equal(error.httpStatus, 504);
    assert.equal(error.retryable, true);
    assert.equal(error.attempts, 4);
    assert.equal(h.fetch.requests.length, 4);
    assert.equal(h.fetch.remaining, 1);
    assert.deepEqual(h.waits(), [375, 750, 1500]);
  });

  test("TIMEOUT then success", async () => {
    const h = harness([timeout(), TOKEN_OK]);
    assert.equal((await h.clock.settle(h.client.getLivekitToken(TOKEN_BODY))).ok, true);
    assert.deepEqual(h.waits(), [375]);
  });

  test("jitter: random 0 and 0.999 give different waits", async () => {
    const low = harness([timeout(), TOKEN_OK], { random: () => 0 });
    const high = harness([timeout(), TOKEN_OK], { random: () => 0.999 });
    await low.clock.settle(low.client.getLivekitToken(TOKEN_BODY));
    await high.clock.settle(high.client.getLivekitToken(TOKEN_BODY));
    assert.deepEqual(low.waits(), [250]);
    assert.ok(high.waits()[0]! > 250 && high.waits()[0]! <= 500, `${high.waits()[0]}`);
  });

  test("a gateway's bare 504 on an idempotent route is a TIMEOUT, backed off", async () => {
    const h = harness([{ status: 504, body: "Gateway Timeout" }, { status: 504, body: "" }, TOKEN_OK]);
    assert.equal((await h.clock.settle(h.client.liveSessionStatus({ sessionId: "s" }))).ok, true);
    assert.deepEqual(h.waits(), [375, 750]);
  });

  test("INTERNAL_ERROR, TIMEOUT and NETWORK_ERROR share one budget of 3 retries", async () => {
    const h = harness([internal(), timeout(), "network", timeout(), TOKEN_OK]);
    const error = failed(await h.clock.settle(h.client.getLivekitToken(TOKEN_BODY)));
    assert.equal(error.code, "TIMEOUT");
    assert.equal(error.attempts, 4);
    assert.equal(h.fetch.remaining, 1);
    assert.deepEqual(h.waits(), [375, 750, 1500]);
  });

  test("retryDelayMs: TIMEOUT on a route that is not safe to resend is null", () => {
    const error: KitError = {
      code: "TIMEOUT",
      message: "",
      retryable: true,
      retryAfterSeconds: null,
      httpStatus: 504,
      requestId: null,
      attempts: 1,
      context: {},
    };
    const history = { backoffRetries: 0, waitRetries: 0 };
    assert.equal(retryDelayMs(error, history, false, DEFAULT_RETRY, half), null);
    assert.equal(retryDelayMs(error, history, true, DEFAULT_RETRY, half), 375);
  });
});

describe("retry policy: non-idempotent routes", () => {
  const routes: Record<string, (h: ReturnType<typeof harness>) => Promise<Result<unknown>>> = {
    callInitiate: (h: ReturnType<typeof harness>) => h.client.callInitiate({ calleeId: "22222222-2222-4222-8222-222222222222" }),
    liveSessionStart: (h: ReturnType<typeof harness>) => h.client.liveSessionStart({ type: "video_live" }),
  };
  for (const [name, call] of Object.entries(routes)) {
    test(`${name}: INTERNAL_ERROR is not retried`, async () => {
      const h = harness([internal(), okReply({}, 201)]);
      const error = failed(await h.clock.settle(call(h)));
      assert.equal(error.code, "INTERNAL_ERROR");
      assert.equal(error.attempts, 1);
      assert.equal(h.fetch.requests.length, 1);
      assert.deepEqual(h.waits(), []);
    });

    test(`${name}: TIMEOUT is not retried (the request may have run)`, async () => {
      const h = harness([timeout(), okReply({}, 201)]);
      const error = failed(await h.clock.settle(call(h)));
      assert.equal(error.code, "TIMEOUT");
      assert.equal(error.retryable, true);
      assert.equal(error.attempts, 1);
      assert.equal(h.fetch.requests.length, 1);
      assert.deepEqual(h.waits(), []);
    });

    test(`${name}: NETWORK_ERROR is not retried`, async () => {
      const h = harness(["network", okReply({}, 201)]);
      const error = failed(await h.clock.settle(call(h)));
      assert.equal(error.code, "NETWORK_ERROR");
      assert.equal(error.attempts, 1);
      assert.equal(h.fetch.requests.length, 1);
    });

    test(`${name}: RATE_LIMITED waits and is retried once`, async () => {
      const h = harness([rateLimited(5), okReply({}, 201)]);
      const result = await h.clock.settle(call(h));
      assert.equal(result.ok, true);
      assert.equal(h.fetch.requests.length, 2);
      assert.deepEqual(h.waits(), [5000]);
    });
  }
});

describe("retry policy: every other code is sent once", () => {
  const others: Array<[string, number, boolean]> = [
    ["BUSY", 409, false],
    ["SESSION_NOT_FOUND", 404, false],
    ["PUSH_FAILED", 502, true],
    ["INVALID_REQUEST", 400, false],
    ["CALL_EXPIRED", 409, false],
    ["FORBIDDEN", 403, false],
    ["PAYMENT_REQUIRED", 402, false],
    ["NOT_FOUND", 404, false],
    ["PAYLOAD_TOO_LARGE", 413, false],
  ];
  for (const [code, status, retryable] of others) {
    test(`${code} (${status}, retryable ${retryable}) on an idempotent route`, async () => {
      const h = harness([errorReply(status, code, { retryable }), TOKEN_OK]);
      const error = failed(await h.clock.settle(h.client.getLivekitToken(TOKEN_BODY)));
      assert.equal(error.code, code);
      assert.equal(error.retryable, retryable);
      assert.equal(error.attempts, 1);
      assert.equal(h.fetch.requests.length, 1);
      assert.deepEqual(h.waits(), []);
    });
  }

  test("PUSH_FAILED from call-initiate (retryable: true) is sent once", async () => {
    const h = harness([errorReply(502, "PUSH_FAILED", { retryable: true }), okReply({}, 201)]);
    const error = failed(await h.clock.settle(h.client.callInitiate({ calleeId: "c" })));
    assert.equal(error.code, "PUSH_FAILED");
    assert.equal(error.retryable, true);
    assert.equal(h.fetch.requests.length, 1);
  });

  test("retryDelayMs: null for every code outside the policy", () => {
    const base: KitError = {
      code: "BUSY",
      message: "",
      retryable: true,
      retryAfterSeconds: 5,
      httpStatus: 409,
      requestId: null,
      attempts: 1,
      context: {},
    };
    for (const code of ["BUSY", "PUSH_FAILED", "UNAUTHORIZED", "ABORTED", "UNEXPECTED_RESPONSE", "CALL_EXPIRED", "NOT_FOUND", "PAYLOAD_TOO_LARGE"] as const) {
      assert.equal(retryDelayMs({ ...base, code }, { backoffRetries: 0, waitRetries: 0 }, true, DEFAULT_RETRY, half), null, code);
    }
  });
});

describe("retry policy: timeouts", () => {
  test("a request that does not answer times out after 15000 ms as a NETWORK_ERROR", async () => {
    const h = harness(["hang"], { retry: false });
    const error = failed(await h.clock.settle(h.client.getLivekitToken(TOKEN_BODY)));
    assert.equal(error.code, "NETWORK_ERROR");
    assert.equal(error.httpStatus, null);
    assert.deepEqual(h.clock.sleeps, [15_000]);
    assert.equal(h.clock.now(), 15_000);
    assert.equal(h.fetch.requests[0]!.signal.aborted, true, "the request is aborted");
    assert.equal(h.attempts[0]!.durationMs, 15_000);
  });

  test("it does not fire before 15000 ms", async () => {
    const h = harness(["hang"], { retry: false });
    let settled = false;
    const pending = h.client.getLivekitToken(TOKEN_BODY).then((result) => {
      settled = true;
      return result;
    });
    await h.clock.advance(14_999);
    assert.equal(settled, false);
    await h.clock.advance(1);
    assert.equal(settled, true);
    assert.equal(failed(await pending).code, "NETWORK_ERROR");
  });

  test("a timed-out idempotent request is retried with backoff", async () => {
    const h = harness(["hang", TOKEN_OK]);
    assert.equal((await h.clock.settle(h.client.getLivekitToken(TOKEN_BODY))).ok, true);
    assert.deepEqual(h.clock.sleeps, [15_000, 375, 15_000]);
    assert.equal(h.clock.now(), 15_375);
  });

  test("timeoutMs on the client and per request", async () => {
    const client = harness(["hang"], { retry: false, timeoutMs: 2000 });
    await client.clock.settle(client.client.getLivekitToken(TOKEN_BODY));
    assert.deepEqual(client.clock.sleeps, [2000]);
    const perRequest = harness(["hang"], { retry: false, timeoutMs: 2000 });
    await perRequest.clock.settle(perRequest.client.getLivekitToken(TOKEN_BODY, { timeoutMs: 700 }));
    assert.deepEqual(perRequest.clock.sleeps, [700]);
    assert.equal(perRequest.clock.now(), 700);
  });

  test("a request that answers does not wait for the timer", async () => {
    const h = harness([TOKEN_OK]);
    const pending = h.client.getLivekitToken(TOKEN_BODY);
    await h.clock.flush();
    assert.equal(h.clock.pending, 0, "the timeout is cancelled");
    assert.equal((await pending).ok, true);
    assert.equal(h.clock.now(), 0);
    assert.deepEqual(h.clock.sleeps, [15_000]);
  });
});

describe("retry policy: switched off", () => {
  test("retry: false on the client sends once", async () => {
    for (const reply of [internal(), timeout(), rateLimited(1), unavailable(1), "network" as const]) {
      const h = harness([reply, TOKEN_OK], { retry: false });
      const error = failed(await h.clock.settle(h.client.getLivekitToken(TOKEN_BODY)));
      assert.equal(error.attempts, 1);
      assert.equal(h.fetch.requests.length, 1);
      assert.deepEqual(h.waits(), []);
      assert.equal(h.attempts[0]!.retryInMs, null);
    }
  });

  test("{ retry: false } per request sends once", async () => {
    for (const reply of [internal(), timeout(), rateLimited(1), unavailable(1), "network" as const]) {
      const h = harness([reply, TOKEN_OK]);
      const error = failed(await h.clock.settle(h.client.getLivekitToken(TOKEN_BODY, { retry: false })));
      assert.equal(error.attempts, 1);
      assert.equal(h.fetch.requests.length, 1);
    }
  });

  test("{ retry: false } on a GET without parameters", async () => {
    const h = harness([{ status: 500, body: "oops" }, okReply()]);
    const error = failed(await h.clock.settle(h.client.health({ retry: false })));
    assert.equal(error.code, "INTERNAL_ERROR");
    assert.equal(h.fetch.requests.length, 1);
  });
});

describe("retry policy: abort", () => {
  test("an abort during a backoff wait returns ABORTED at once", async () => {
    const h = harness([internal(), TOKEN_OK]);
    const controller = new AbortController();
    const pending = h.client.getLivekitToken(TOKEN_BODY, { signal: controller.signal });
    await h.clock.flush();
    assert.equal(h.clock.pending, 1, "waiting the backoff");
    controller.abort();
    const error = failed(await h.clock.settle(pending));
    assert.equal(error.code, "ABORTED");
    assert.equal(error.attempts, 1);
    assert.equal(error.retryable, false);
    assert.equal(error.message, "İstek iptal edildi");
    assert.equal(h.fetch.requests.length, 1);
    assert.equal(h.clock.now(), 0);
  });

  test("an abort during a RATE_LIMITED wait returns ABORTED", async () => {
    const h = harness([rateLimited(5), TOKEN_OK]);
    const controller = new AbortController();
    const pending = h.client.getLivekitToken(TOKEN_BODY, { signal: controller.signal });
    await h.clock.advance(1000);
    controller.abort();
    const error = failed(await h.clock.settle(pending));
    assert.equal(error.code, "ABORTED");
    assert.equal(h.fetch.requests.length, 1);
    assert.equal(h.clock.now(), 1000);
  });

  test("an abort during the request returns ABORTED, not NETWORK_ERROR, and is not retried", async () => {
    const h = harness(["hang", TOKEN_OK]);
    const controller = new AbortController();
    const pending = h.client.getLivekitToken(TOKEN_BODY, { signal: controller.signal });
    await h.clock.flush();
    controller.abort();
    const error = failed(await h.clock.settle(pending));
    assert.equal(error.code, "ABORTED");
    assert.equal(h.fetch.requests.length, 1);
    assert.equal(h.fetch.requests[0]!.signal.aborted, true);
  });

  test(
    "an already aborted signal sends nothing and reports attempts 0",
    async () => {
      const h = harness([TOKEN_OK]);
      const error = failed(await h.clock.settle(h.client.getLivekitToken(TOKEN_BODY, { signal: AbortSignal.abort() })));
      assert.equal(error.code, "ABORTED");
      assert.equal(h.fetch.requests.length, 0);
      assert.equal(error.attempts, 0, "KitError.attempts is 'how many requests were sent'");
    },
  );
});

describe("onAttempt", () => {
  test("reports each attempt with its wait, code, status and request id", async () => {
    const h = harness([internal(), rateLimited(2), TOKEN_OK]);
    assert.equal((await h.clock.settle(h.client.getLivekitToken(TOKEN_BODY))).ok, true);
    assert.deepEqual(
      h.attempts.map(({ operation, attempt, httpStatus, code, retryInMs, durationMs }) => ({ operation, attempt, httpStatus, code, retryInMs, durationMs })),
      [
        { operation: "getLivekitToken", attempt: 1, httpStatus: 500, code: "INTERNAL_ERROR", retryInMs: 375, durationMs: 0 },
        { operation: "getLivekitToken", attempt: 2, httpStatus: 429, code: "RATE_LIMITED", retryInMs: 2000, durationMs: 0 },
        { operation: "getLivekitToken", attempt: 3, httpStatus: 200, code: null, retryInMs: null, durationMs: 0 },
      ],
    );
    assert.deepEqual(
      h.attempts.map((report) => report.requestId),
      h.fetch.requests.map((request) => request.headers["x-request-id"]),
    );
    assert.equal(new Set(h.attempts.map((report) => report.requestId)).size, 3, "a new request id per attempt");
  });

  test("the last failed attempt reports retryInMs null", async () => {
    const h = harness(["network", "network", "network", "network"]);
    await h.clock.settle(h.client.getLivekitToken(TOKEN_BODY));
    assert.deepEqual(
      h.attempts.map((report) => report.retryInMs),
      [375, 750, 1500, null],
    );
    assert.deepEqual(
      h.attempts.map((report) => report.code),
      ["NETWORK_ERROR", "NETWORK_ERROR", "NETWORK_ERROR", "NETWORK_ERROR"],
    );
    assert.ok(h.attempts.every((report) => report.httpStatus === null));
  });

  test("the raw route's operation name is METHOD path", async () => {
    const h = harness([okReply()]);
    await h.clock.settle(h.client.request("GET", "/newer-route"));
    assert.equal(h.attempts[0]!.operation, "GET /newer-route");
  });

  test(
    "a 201 success is reported as httpStatus 201",
    async () => {
      const h = harness([okReply({ call: {} }, 201)]);
      assert.equal((await h.clock.settle(h.client.callInitiate({ calleeId: "c" }))).ok, true);
      assert.equal(h.attempts[0]!.httpStatus, 201);
    },
  );
});
