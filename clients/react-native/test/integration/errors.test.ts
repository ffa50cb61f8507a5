// Every errorCode the service has arrives through the kit typed: its code,
// HTTP status, text, retry advice and context, against the real functions.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, test } from "node:test";

import { SERVER_ERROR_CODES } from "../../src/index.js";
import type { ErrorCode, KitError, Result } from "../../src/index.js";
import { BASE_URL, clientFor, databaseReachable, devhostOnly, pushMode, sql, user } from "./stack.js";

const seen = new Set<ErrorCode>();
/** Codes only our host answers, whose scenarios are skipped on real Spin. */
const skipped = new Set<ErrorCode>();

/** The options of a test that produces `code` only on our host. */
function onlyOnOurHost(code: ErrorCode, reason: string): { skip?: string } {
  const options = devhostOnly(reason);
  if (options.skip !== undefined) skipped.add(code);
  return options;
}

/** Asserts `result` is the typed error `code` with `httpStatus`, and records it. */
function expectError(result: Result<unknown>, code: ErrorCode, httpStatus: number): KitError {
  assert.equal(result.ok, false, `expected ${code}, got success ${JSON.stringify(result)}`);
  if (result.ok) throw new Error("unreachable");
  const { error } = result;
  assert.equal(error.code, code, `expected ${code}: ${JSON.stringify(error)}`);
  assert.equal(error.httpStatus, httpStatus);
  assert.equal(typeof error.message, "string");
  assert.ok(error.message.length > 0);
  assert.equal(typeof error.retryable, "boolean");
  assert.ok(error.requestId !== null && error.requestId.length > 0, "the answer's request id");
  seen.add(code);
  return error;
}

async function ringingCall() {
  const caller = await user("caller");
  const callee = await user("callee");
  const started = await caller.client.callInitiate({ calleeId: callee.id, callType: "audio" });
  assert.ok(started.ok, JSON.stringify(started));
  return { caller, callee, callId: started.data.call.id };
}

describe("every errorCode arrives typed", () => {
  after(() => {
    // A filtered run (--test-name-pattern) covers only what it picked.
    if (process.execArgv.some((arg) => arg.startsWith("--test-name-pattern"))) return;
    const missing = SERVER_ERROR_CODES.filter((code) => !seen.has(code) && !skipped.has(code));
    assert.deepEqual(missing, [], "codes no scenario produced");
  });

  test("UNAUTHORIZED: a token the service does not accept (after one forced refresh)", async () => {
    const refreshes: boolean[] = [];
    const client = clientFor("not-a-jwt", {
      getAccessToken: ({ forceRefresh }) => {
        refreshes.push(forceRefresh);
        return "not-a-jwt";
      },
    });
    const error = expectError(await client.getLivekitToken({ sessionId: randomUUID() }), "UNAUTHORIZED", 401);
    assert.equal(error.message, "Oturum süresi doldu, tekrar giriş yapın");
    assert.equal(error.retryable, false);
    assert.deepEqual(refreshes, [false, true]);
    assert.equal(error.attempts, 2);
  });

  test("SESSION_NOT_FOUND, in Turkish and in English", async () => {
    const viewer = await user("viewer");
    const tr = expectError(await viewer.client.getLivekitToken({ sessionId: randomUUID() }), "SESSION_NOT_FOUND", 404);
    assert.equal(tr.message, "Yayın bulunamadı");
    assert.equal(tr.attempts, 1, "never retried");
    const en = expectError(await viewer.client.getLivekitToken({ sessionId: randomUUID() }, { language: "en" }), "SESSION_NOT_FOUND", 404);
    assert.notEqual(en.message, tr.message);
  });

  test("SUBSCRIPTION_REQUIRED and PAYMENT_REQUIRED (with its price)", async () => {
    const host = await user("host");
    const viewer = await user("viewer");
    const subscribers = await host.client.liveSessionStart({ type: "audio_live", access: "subscribers" });
    assert.ok(subscribers.ok, JSON.stringify(subscribers));
    const error = expectError(await viewer.client.getLivekitToken({ sessionId: subscribers.data.session.id }), "SUBSCRIPTION_REQUIRED", 403);
    assert.equal(error.message, "Bu yayın sadece abonelere özel");
    await host.client.liveSessionEnd({ sessionId: subscribers.data.session.id });

    const paid = await host.client.liveSessionStart({ type: "video_live", access: "paid", priceCoins: 50 });
    assert.ok(paid.ok, JSON.stringify(paid));
    const payment = expectError(await viewer.client.getLivekitToken({ sessionId: paid.data.session.id }), "PAYMENT_REQUIRED", 402);
    assert.equal(payment.context.priceCoins, 50);
    assert.match(payment.message, /50/);
  });

  test("ALREADY_LIVE names the open session; SESSION_ENDED after the end; FORBIDDEN for another user's end", async () => {
    const host = await user("host");
    const first = await host.client.liveSessionStart({ type: "video_live" });
    assert.ok(first.ok, JSON.stringify(first));
    const sessionId = first.data.session.id;
    const again = expectError(await host.client.liveSessionStart({ type: "video_live" }), "ALREADY_LIVE", 409);
    assert.equal(again.context.sessionId, sessionId);
    const stranger = await user("stranger");
    expectError(await stranger.client.liveSessionEnd({ sessionId }), "FORBIDDEN", 403);
    const ended = await host.client.liveSessionEnd({ sessionId });
    assert.ok(ended.ok && ended.data.endedNow);
    expectError(await stranger.client.getLivekitToken({ sessionId }), "SESSION_ENDED", 410);
  });

  test("RATE_LIMITED with retryAfterSeconds 5", async () => {
    const viewer = await user("eager viewer");
    let limited: Result<unknown> | null = null;
    for (let i = 0; i < 40 && limited === null; i++) {
      const result = await viewer.client.getLivekitToken({ sessionId: randomUUID() }, { retry: false });
      if (!result.ok && result.error.code === "RATE_LIMITED") limited = result;
    }
    assert.ok(limited !== null, "the limit (30 a minute) was reached");
    const error = expectError(limited, "RATE_LIMITED", 429);
    assert.equal(error.retryAfterSeconds, 5);
    assert.equal(error.retryable, true);
  });

  test("INVALID_REQUEST names the field", async () => {
    const caller = await user("caller");
    const error = expectError(await caller.client.callInitiate({ calleeId: "not-a-uuid" }), "INVALID_REQUEST", 400);
    assert.equal(error.context.field, "calleeId");
  });

  test("USER_NOT_FOUND, CANNOT_CALL_SELF, CALLEE_UNREACHABLE", async () => {
    const caller = await user("caller");
    expectError(await caller.client.callInitiate({ calleeId: randomUUID() }), "USER_NOT_FOUND", 404);
    expectError(await caller.client.callInitiate({ calleeId: caller.id }), "CANNOT_CALL_SELF", 400);
    const offline = await user("no device", { device: false });
    expectError(await caller.client.callInitiate({ calleeId: offline.id }), "CALLEE_UNREACHABLE", 409);
  });

  test("BUSY when the callee is in another call", async () => {
    const { callee } = await ringingCall();
    const other = await user("other caller");
    const error = expectError(await other.client.callInitiate({ calleeId: callee.id }), "BUSY", 409);
    assert.equal(error.context.status, "BUSY");
  });

  test("PUSH_FAILED is retryable but sent once (call-initiate is not idempotent)", async () => {
    const caller = await user("caller");
    const callee = await user("callee");
    await pushMode("refuse");
    try {
      const error = expectError(await caller.client.callInitiate({ calleeId: callee.id }), "PUSH_FAILED", 502);
      assert.equal(error.retryable, true);
      assert.equal(error.attempts, 1);
    } finally {
      await pushMode("accept");
    }
  });

  test("CALL_NOT_FOUND, FORBIDDEN, CALL_NOT_ACTIVE, INVALID_TRANSITION, CALL_ENDED", async () => {
    const { caller, callee, callId } = await ringingCall();
    expectError(await caller.client.callAction({ callId: randomUUID(), action: "end" }), "CALL_NOT_FOUND", 404);
    const stranger = await user("stranger");
    expectError(await stranger.client.callAction({ callId, action: "end" }), "FORBIDDEN", 403);
    // The callee joins only once they accept.
    const early = expectError(await callee.client.getLivekitToken({ callId }), "CALL_NOT_ACTIVE", 409);
    assert.equal(early.context.status, "ringing");
    const rejected = await callee.client.callAction({ callId, action: "reject" });
    assert.ok(rejected.ok && rejected.data.call.status === "rejected");
    const late = expectError(await callee.client.callAction({ callId, action: "accept" }), "INVALID_TRANSITION", 409);
    assert.equal(late.context.status, "rejected");
    assert.equal(late.context.call?.id, callId);
    expectError(await caller.client.getLivekitToken({ callId }), "CALL_ENDED", 410);
  });

  test("CALL_EXPIRED: accepting after the ring deadline", async () => {
    const { callee, callId } = await ringingCall();
    await sql(`UPDATE calls SET ringing_at = now() - interval '10 minutes' WHERE id = '${callId}'`);
    const error = expectError(await callee.client.callAction({ callId, action: "accept" }), "CALL_EXPIRED", 410);
    assert.equal(error.context.call?.status, "missed");
  });

  test("INTERNAL_ERROR is retried three times", async () => {
    const owner = await user("device owner");
    const attempts: (number | null)[] = [];
    const client = clientFor(owner.token, {
      retry: { baseDelayMs: 10, maxDelayMs: 40 },
      onAttempt: (report) => attempts.push(report.retryInMs),
    });
    await sql("ALTER TABLE push_tokens RENAME TO push_tokens_hidden");
    try {
      const error = expectError(await client.pushTokenRegister({ token: "ExponentPushToken[x]", platform: "ios" }), "INTERNAL_ERROR", 500);
      assert.equal(error.retryable, true);
      assert.equal(error.attempts, 4);
      assert.equal(attempts.length, 4);
      assert.equal(attempts[3], null);
    } finally {
      await sql("ALTER TABLE push_tokens_hidden RENAME TO push_tokens");
    }
    const registered = await client.pushTokenRegister({ token: "ExponentPushToken[x]", platform: "ios" });
    assert.ok(registered.ok, JSON.stringify(registered));
  });

  test("SERVICE_UNAVAILABLE while the database is down, and back after", async () => {
    const viewer = await user("viewer");
    await databaseReachable(false);
    try {
      const error = expectError(await viewer.client.getLivekitToken({ sessionId: randomUUID() }, { retry: false }), "SERVICE_UNAVAILABLE", 503);
      assert.equal(error.retryAfterSeconds, 5);
      assert.equal(error.retryable, true);
    } finally {
      await databaseReachable(true);
    }
    const health = await viewer.client.health();
    assert.ok(health.ok, JSON.stringify(health));
  });

  test("METHOD_NOT_ALLOWED and INVALID_SIGNATURE through the raw request", async () => {
    const someone = await user("someone");
    expectError(await someone.client.request("GET", "/call-initiate"), "METHOD_NOT_ALLOWED", 405);
    const forged = await someone.client.request("POST", "/livekit-webhook", {
      body: { event: "room_finished", room: { name: "x" } },
      authenticated: false,
    });
    expectError(forged, "INVALID_SIGNATURE", 401);
  });

  test("NOT_FOUND: a path no route serves, any method, in Turkish and in English", async () => {
    const someone = await user("lost user");
    const get = expectError(await someone.client.request("GET", "/no-such-route"), "NOT_FOUND", 404);
    assert.equal(get.message, "İstenen adres bulunamadı");
    assert.equal(get.retryable, false);
    assert.equal(get.attempts, 1, "never retried");
    const post = await someone.client.request("POST", "/calls/initiate", { body: { calleeId: randomUUID() }, language: "en" });
    const english = expectError(post, "NOT_FOUND", 404);
    assert.equal(english.message, "The requested address was not found");
    assert.equal(english.attempts, 1);
  });

  test(
    "PAYLOAD_TOO_LARGE: a body over 1 MiB, from the host; over 16 KiB the component says INVALID_REQUEST",
    onlyOnOurHost("PAYLOAD_TOO_LARGE", "our host's body limit"),
    async () => {
      const owner = await user("device owner");
      const huge = expectError(
        await owner.client.pushTokenRegister({ token: "x".repeat(1024 * 1024 + 1), platform: "ios" }),
        "PAYLOAD_TOO_LARGE",
        413,
      );
      assert.equal(huge.message, "İstek çok büyük");
      assert.equal(huge.retryable, false);
      // The host answers 413 before it has read the whole body and closes the
      // connection; a client still writing may first see the reset, a transport
      // failure the policy retries on this idempotent route. The 413 itself ends it.
      assert.ok(huge.attempts <= 2, `at most one retry, after a reset: ${huge.attempts}`);
      const large = await owner.client.pushTokenRegister({ token: "x".repeat(20 * 1024), platform: "ios" }, { language: "en" });
      assert.ok(!large.ok && large.error.code === "INVALID_REQUEST" && large.error.httpStatus === 400, JSON.stringify(large));
    },
  );

  test(
    "TIMEOUT: call-initiate cut off by the host while the push hangs is not resent, and it did run",
    onlyOnOurHost("TIMEOUT", "our host's request timeout (e2e::stack::REQUEST_TIMEOUT)"),
    async () => {
      const caller = await user("caller");
      const callee = await user("callee");
      await pushMode("hang");
      try {
        const error = expectError(await caller.client.callInitiate({ calleeId: callee.id }), "TIMEOUT", 504);
        assert.equal(error.message, "İstek zaman aşımına uğradı, tekrar deneyin");
        assert.equal(error.retryable, true);
        assert.equal(error.attempts, 1, "call-initiate is not safe to resend");
      } finally {
        await pushMode("accept");
      }
      // Why: the call the TIMEOUT hid exists, so a resend meets it.
      const again = await caller.client.callInitiate({ calleeId: callee.id });
      assert.ok(!again.ok && again.error.code === "BUSY", JSON.stringify(again));
    },
  );

  test("the base URL is the stack's", () => {
    assert.match(BASE_URL, /^http:\/\/127\.0\.0\.1:\d+$/);
  });
});
