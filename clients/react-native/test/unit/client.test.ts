import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createFunctionsClient, SERVER_ERROR_CODES } from "../../src/index.js";
import type { KitError, Result, ServerErrorCode } from "../../src/index.js";
import { BASE_URL, harness } from "../support/client.js";
import { FakeClock } from "../support/fake-clock.js";
import { FakeFetch, errorReply, okReply } from "../support/fake-fetch.js";

const STATUS: Record<ServerErrorCode, number> = {
  INVALID_REQUEST: 400,
  CANNOT_CALL_SELF: 400,
  UNAUTHORIZED: 401,
  INVALID_SIGNATURE: 401,
  PAYMENT_REQUIRED: 402,
  SUBSCRIPTION_REQUIRED: 403,
  FORBIDDEN: 403,
  SESSION_NOT_FOUND: 404,
  CALL_NOT_FOUND: 404,
  USER_NOT_FOUND: 404,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CALL_NOT_ACTIVE: 409,
  ALREADY_LIVE: 409,
  BUSY: 409,
  INVALID_TRANSITION: 409,
  CALLEE_UNREACHABLE: 409,
  SESSION_ENDED: 410,
  CALL_ENDED: 410,
  CALL_EXPIRED: 410,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  INTERNAL_ERROR: 500,
  PUSH_FAILED: 502,
  SERVICE_UNAVAILABLE: 503,
  TIMEOUT: 504,
};

const CALL = {
  id: "33333333-3333-4333-8333-333333333333",
  callerId: "a",
  calleeId: "b",
  callType: "audio",
  status: "ringing",
  roomName: "call-1",
  createdAt: "2030-01-01T00:00:00Z",
  ringingAt: "2030-01-01T00:00:01Z",
  acceptedAt: null,
  liveAt: null,
  endedAt: null,
  endReason: null,
};

function failed<T>(result: Result<T>): KitError {
  assert.equal(result.ok, false, "expected a failure");
  if (result.ok) throw new Error("unreachable");
  return result.error;
}

describe("error answers become typed errors", () => {
  for (const code of SERVER_ERROR_CODES) {
    test(`${code}: code, server text, retryable, retryAfterSeconds, httpStatus, requestId`, async () => {
      const status = STATUS[code];
      const retryable = ["RATE_LIMITED", "INTERNAL_ERROR", "SERVICE_UNAVAILABLE", "PUSH_FAILED", "TIMEOUT"].includes(code);
      const h = harness([
        {
          status,
          body: { success: false, errorCode: code, error: `metin: ${code}`, retryable, retryAfterSeconds: 7 },
          headers: { "x-request-id": `req-${code}`, "Retry-After": "7" },
        },
      ]);
      // health is unauthenticated (no token refresh on UNAUTHORIZED); no retries.
      const error = failed(await h.clock.settle(h.client.health({ retry: false })));
      assert.deepEqual(error, {
        code,
        message: `metin: ${code}`,
        retryable,
        retryAfterSeconds: 7,
        httpStatus: status,
        requestId: `req-${code}`,
        attempts: 1,
        context: {},
      });
    });
  }

  test("context fields: status, priceCoins, sessionId, field, details, call", async () => {
    const h = harness([
      errorReply(409, "INVALID_TRANSITION", {
        status: "ringing",
        priceCoins: 50,
        sessionId: "s-1",
        field: "calleeId",
        details: "must be a uuid",
        call: CALL,
        unrelated: "dropped",
      }),
    ]);
    const error = failed(await h.clock.settle(h.client.callAction({ callId: CALL.id, action: "end" })));
    assert.deepEqual(error.context, {
      status: "ringing",
      priceCoins: 50,
      sessionId: "s-1",
      field: "calleeId",
      details: "must be a uuid",
      call: CALL,
    });
  });

  test("context fields of the wrong type are left out", async () => {
    const h = harness([errorReply(402, "PAYMENT_REQUIRED", { priceCoins: "50", status: 3, call: { status: "ringing" }, field: null })]);
    const error = failed(await h.clock.settle(h.client.getLivekitToken({ sessionId: "s" })));
    assert.deepEqual(error.context, {});
  });

  test("retryAfterSeconds: the body's, else the header's; a non-numeric header is ignored", async () => {
    const bodyWins = harness([errorReply(400, "INVALID_REQUEST", { retryAfterSeconds: 3 }, { "Retry-After": "9" })]);
    assert.equal(failed(await bodyWins.clock.settle(bodyWins.client.health())).retryAfterSeconds, 3);
    const header = harness([errorReply(400, "INVALID_REQUEST", {}, { "Retry-After": " 9 " })]);
    assert.equal(failed(await header.clock.settle(header.client.health())).retryAfterSeconds, 9);
    const date = harness([errorReply(400, "INVALID_REQUEST", {}, { "Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT" })]);
    assert.equal(failed(await date.clock.settle(date.client.health())).retryAfterSeconds, null);
    const none = harness([errorReply(400, "INVALID_REQUEST")]);
    assert.equal(failed(await none.clock.settle(none.client.health())).retryAfterSeconds, null);
  });

  test("a missing retryable is true for 5xx, false otherwise; an empty error text falls back to the kit's", async () => {
    const h = harness([
      { status: 409, body: { success: false, errorCode: "BUSY", error: "" } },
      { status: 502, body: { success: false, errorCode: "PUSH_FAILED" } },
    ]);
    const busy = failed(await h.clock.settle(h.client.health()));
    assert.equal(busy.retryable, false);
    assert.equal(busy.message, "Bir hata oluştu, tekrar deneyin");
    const push = failed(await h.clock.settle(h.client.health()));
    assert.equal(push.retryable, true);
    assert.equal(push.code, "PUSH_FAILED");
  });

  test("the request id is the answer's x-request-id, else the one sent", async () => {
    const h = harness([errorReply(404, "SESSION_NOT_FOUND")]);
    const error = failed(await h.clock.settle(h.client.liveSessionStatus({ sessionId: "s" })));
    assert.equal(error.requestId, h.fetch.requests[0]!.headers["x-request-id"]);
    const ok = harness([okReply({}, 200, { "x-request-id": "server-id" })]);
    const result = await ok.clock.settle(ok.client.health());
    assert.equal(result.ok && result.requestId, "server-id");
  });
});

describe("answers that are not the contract", () => {
  const cases: Array<{ name: string; status: number; body: unknown; code: string; message: string; retryable: boolean; retryAfterSeconds: number | null; headers?: Record<string, string> }> = [
    { name: "non-JSON 502", status: 502, body: "<html>Bad Gateway</html>", code: "SERVICE_UNAVAILABLE", message: "Servis geçici olarak kullanılamıyor, biraz sonra tekrar deneyin", retryable: true, retryAfterSeconds: 5 },
    { name: "non-JSON 503 with Retry-After", status: 503, body: "down", code: "SERVICE_UNAVAILABLE", message: "Servis geçici olarak kullanılamıyor, biraz sonra tekrar deneyin", retryable: true, retryAfterSeconds: 12, headers: { "retry-after": "12" } },
    // A gateway's timeout is the service's TIMEOUT: the request may have run.
    { name: "non-JSON 504", status: 504, body: "Gateway Timeout", code: "TIMEOUT", message: "İstek zaman aşımına uğradı, tekrar deneyin", retryable: true, retryAfterSeconds: null },
    { name: "non-JSON 500", status: 500, body: "Internal Server Error", code: "INTERNAL_ERROR", message: "Bir hata oluştu, tekrar deneyin", retryable: true, retryAfterSeconds: null },
    { name: "bare 429", status: 429, body: "", code: "RATE_LIMITED", message: "Çok fazla istek, biraz bekleyin", retryable: true, retryAfterSeconds: 5 },
    { name: "bare 401", status: 401, body: "Unauthorized", code: "UNAUTHORIZED", message: "Oturum süresi doldu, tekrar giriş yapın", retryable: false, retryAfterSeconds: null },
    // A 2xx that is not the contract (a captive portal's page, say) is worth
    // trying again (clientError); a bare 4xx (a wrong baseUrl) is not.
    { name: "non-JSON 200", status: 200, body: "<html>ok</html>", code: "UNEXPECTED_RESPONSE", message: "Beklenmeyen bir yanıt alındı, tekrar deneyin", retryable: true, retryAfterSeconds: null },
    { name: "a JSON array with 200", status: 200, body: [1, 2], code: "UNEXPECTED_RESPONSE", message: "Beklenmeyen bir yanıt alındı, tekrar deneyin", retryable: true, retryAfterSeconds: null },
    // Spin's own answer to an unrouted path, or a wrong baseUrl.
    { name: "bare 404", status: 404, body: "", code: "NOT_FOUND", message: "İstenen adres bulunamadı", retryable: false, retryAfterSeconds: null },
    { name: "bare 413 (a proxy's body limit)", status: 413, body: "<html>413 Request Entity Too Large</html>", code: "PAYLOAD_TOO_LARGE", message: "İstek çok büyük", retryable: false, retryAfterSeconds: null },
    { name: "bare 400", status: 400, body: "Bad Request", code: "UNEXPECTED_RESPONSE", message: "Beklenmeyen bir yanıt alındı, tekrar deneyin", retryable: false, retryAfterSeconds: null },
    // A newer server's code: not in the contract the kit knows, so the status
    // decides the code; the server's text and retry advice still apply.
    { name: "an unknown errorCode with 409", status: 409, body: { success: false, errorCode: "NEW_CODE", error: "new", retryable: true, status: "x" }, code: "UNEXPECTED_RESPONSE", message: "new", retryable: true, retryAfterSeconds: null },
    { name: "an unknown errorCode with 500", status: 500, body: { success: false, errorCode: "NEW_CODE", error: "new", retryable: false }, code: "INTERNAL_ERROR", message: "new", retryable: false, retryAfterSeconds: null },
    { name: "an unknown errorCode with 503", status: 503, body: { success: false, errorCode: "NEW_CODE", error: "new" }, code: "SERVICE_UNAVAILABLE", message: "new", retryable: true, retryAfterSeconds: 5 },
  ];
  for (const c of cases) {
    test(`${c.name} → ${c.code}`, async () => {
      const h = harness([{ status: c.status, body: c.body, headers: { "x-request-id": "rid", ...c.headers } }]);
      const error = failed(await h.clock.settle(h.client.health({ retry: false })));
      assert.deepEqual(error, {
        code: c.code,
        message: c.message,
        retryable: c.retryable,
        retryAfterSeconds: c.retryAfterSeconds,
        httpStatus: c.status,
        requestId: "rid",
        attempts: 1,
        context: {},
      });
    });
  }

  test("a 200 with success: false and a known code is that error", async () => {
    const h = harness([errorReply(200, "BUSY", { status: "live" })]);
    const error = failed(await h.clock.settle(h.client.health()));
    assert.equal(error.code, "BUSY");
    assert.equal(error.httpStatus, 200);
    assert.deepEqual(error.context, { status: "live" });
  });

  test("a 2xx JSON object without success: false is success", async () => {
    const h = harness([{ status: 200, body: { status: "ok", database: "ok" } }]);
    const result = await h.clock.settle(h.client.health());
    assert.deepEqual(result.ok && result.data, { status: "ok", database: "ok" });
  });

  test("never throws: a fetch that throws synchronously, and a body that cannot be read", async () => {
    const clock = new FakeClock();
    const throwing = createFunctionsClient({
      baseUrl: BASE_URL,
      getAccessToken: () => "t",
      clock,
      retry: false,
      fetch: () => {
        throw new Error("boom");
      },
    });
    assert.equal(failed(await clock.settle(throwing.health())).code, "NETWORK_ERROR");
    const unreadable = createFunctionsClient({
      baseUrl: BASE_URL,
      getAccessToken: () => "t",
      clock,
      retry: false,
      fetch: () => Promise.resolve({ status: 200, headers: { get: () => null }, text: () => Promise.reject(new Error("reset")) }),
    });
    assert.equal(failed(await clock.settle(unreadable.health())).code, "NETWORK_ERROR");
  });
});

describe("language", () => {
  test('language "en" sends accept-language en and English kit texts', async () => {
    const h = harness(["network"], { language: "en", retry: false });
    const error = failed(await h.clock.settle(h.client.getLivekitToken({ sessionId: "s" })));
    assert.equal(h.fetch.requests[0]!.headers["accept-language"], "en");
    assert.equal(error.message, "Connection error");
    assert.equal(h.client.language(), "en");
  });

  test("the kit's own texts for NOT_FOUND, PAYLOAD_TOO_LARGE and TIMEOUT, in both languages", async () => {
    const texts: Array<[number, string, string, string]> = [
      [404, "NOT_FOUND", "İstenen adres bulunamadı", "The requested address was not found"],
      [413, "PAYLOAD_TOO_LARGE", "İstek çok büyük", "The request is too large"],
      [504, "TIMEOUT", "İstek zaman aşımına uğradı, tekrar deneyin", "The request timed out, please try again"],
    ];
    for (const [status, code, tr, en] of texts) {
      // The server's answer without a text, and a bare status: both take the kit's.
      const h = harness([{ status, body: { success: false, errorCode: code } }, { status, body: "" }], { retry: false });
      const withoutText = failed(await h.clock.settle(h.client.health()));
      assert.deepEqual([withoutText.code, withoutText.message], [code, tr]);
      const bare = failed(await h.clock.settle(h.client.health({ language: "en" })));
      assert.deepEqual([bare.code, bare.message], [code, en]);
    }
  });

  test("Turkish by default", async () => {
    const h = harness(["network"], { retry: false });
    const error = failed(await h.clock.settle(h.client.getLivekitToken({ sessionId: "s" })));
    assert.equal(h.fetch.requests[0]!.headers["accept-language"], "tr");
    assert.equal(error.message, "Bağlantı hatası");
    assert.equal(h.client.language(), "tr");
  });

  test("a language function is read at each request; a request's language wins", async () => {
    let language: "tr" | "en" = "tr";
    const h = harness(["network", "network", "network"], { language: () => language, retry: false });
    assert.equal(failed(await h.clock.settle(h.client.health())).message, "Bağlantı hatası");
    language = "en";
    assert.equal(failed(await h.clock.settle(h.client.health())).message, "Connection error");
    assert.equal(failed(await h.clock.settle(h.client.health({ language: "tr" }))).message, "Bağlantı hatası");
    assert.deepEqual(
      h.fetch.requests.map((request) => request.headers["accept-language"]),
      ["tr", "en", "tr"],
    );
  });
});

describe("requests", () => {
  test("a POST: URL, method, headers, JSON body", async () => {
    const h = harness([okReply({ changed: true, call: CALL })]);
    await h.clock.settle(h.client.callAction({ callId: CALL.id, action: "accept" }));
    const request = h.fetch.requests[0]!;
    assert.equal(request.url, `${BASE_URL}/call-action`);
    assert.equal(request.method, "POST");
    assert.deepEqual(request.body, { callId: CALL.id, action: "accept" });
    assert.equal(request.headers["authorization"], "Bearer token-1");
    assert.equal(request.headers["content-type"], "application/json");
    assert.equal(request.headers["accept"], "application/json");
    assert.match(request.headers["x-request-id"] ?? "", /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  test("a GET: the query string is URL-encoded; no body, no content-type", async () => {
    const h = harness([okReply({ sessionId: "s", status: "live" })]);
    await h.clock.settle(h.client.liveSessionStatus({ sessionId: "a b&c=d/é?" }));
    const request = h.fetch.requests[0]!;
    assert.equal(request.url, `${BASE_URL}/live-session-status?sessionId=a%20b%26c%3Dd%2F%C3%A9%3F`);
    assert.equal(request.method, "GET");
    assert.equal(request.rawBody, undefined);
    assert.equal(request.headers["content-type"], undefined);
    assert.equal(request.headers["authorization"], "Bearer token-1");
  });

  test("health sends no authorization and asks for no token", async () => {
    const h = harness([{ status: 200, body: { status: "ok", database: "ok" } }]);
    const result = await h.clock.settle(h.client.health());
    assert.equal(result.ok, true);
    assert.equal(h.fetch.requests[0]!.url, `${BASE_URL}/health`);
    assert.equal(h.fetch.requests[0]!.headers["authorization"], undefined);
    assert.deepEqual(h.tokenRequests, []);
  });

  test("trailing slashes of baseUrl are dropped", async () => {
    const h = harness([okReply()], { baseUrl: "https://api.test/functions/v1///" });
    await h.clock.settle(h.client.health());
    assert.equal(h.fetch.requests[0]!.url, "https://api.test/functions/v1/health");
  });

  test("every route goes to its path with its method", async () => {
    const h = harness(Array.from({ length: 9 }, () => okReply()));
    await h.clock.settle(h.client.health());
    await h.clock.settle(h.client.getLivekitToken({ callId: "c" }));
    await h.clock.settle(h.client.liveSessionStart({ type: "audio_live", access: "paid", priceCoins: 10 }));
    await h.clock.settle(h.client.liveSessionEnd({ sessionId: "s" }));
    await h.clock.settle(h.client.liveSessionStatus({ sessionId: "s" }));
    await h.clock.settle(h.client.callInitiate({ calleeId: "c", callType: "video" }));
    await h.clock.settle(h.client.callAction({ callId: "c", action: "cancel" }));
    await h.clock.settle(h.client.pushTokenRegister({ token: "t", platform: "ios" }));
    await h.clock.settle(h.client.pushTokenUnregister({ token: "t" }));
    assert.deepEqual(
      h.fetch.requests.map((request) => `${request.method} ${request.url.slice(BASE_URL.length)}`),
      [
        "GET /health",
        "POST /get-livekit-token",
        "POST /live-session-start",
        "POST /live-session-end",
        "GET /live-session-status?sessionId=s",
        "POST /call-initiate",
        "POST /call-action",
        "POST /push-token-register",
        "POST /push-token-unregister",
      ],
    );
    assert.deepEqual(h.fetch.requests[2]!.body, { type: "audio_live", access: "paid", priceCoins: 10 });
  });

  test("client.request: a raw GET", async () => {
    const h = harness([okReply({ value: 1 })]);
    const result = await h.clock.settle(h.client.request<{ value: number }>("GET", "/x"));
    assert.equal(result.ok && result.data.value, 1);
    const request = h.fetch.requests[0]!;
    assert.equal(request.url, `${BASE_URL}/x`);
    assert.equal(request.method, "GET");
    assert.equal(request.headers["authorization"], "Bearer token-1");
    assert.equal(request.headers["content-type"], undefined);
  });

  test("client.request: a raw POST with body and query; not idempotent by default", async () => {
    const h = harness([errorReply(500, "INTERNAL_ERROR", { retryable: true }), okReply()]);
    const error = failed(await h.clock.settle(h.client.request("POST", "/y", { body: { a: 1 }, query: { q: "1 2" }, authenticated: false })));
    assert.equal(error.code, "INTERNAL_ERROR");
    assert.equal(h.fetch.requests.length, 1);
    const request = h.fetch.requests[0]!;
    assert.equal(request.url, `${BASE_URL}/y?q=1%202`);
    assert.deepEqual(request.body, { a: 1 });
    assert.equal(request.headers["content-type"], "application/json");
    assert.equal(request.headers["authorization"], undefined);
  });

  test("client.request: a raw GET is retried like an idempotent route", async () => {
    const h = harness([errorReply(500, "INTERNAL_ERROR", { retryable: true }), okReply()]);
    assert.equal((await h.clock.settle(h.client.request("GET", "/x"))).ok, true);
    assert.equal(h.fetch.requests.length, 2);
  });
});

describe("access tokens", () => {
  for (const [name, provider] of [
    ["null", () => null],
    ["undefined", () => undefined],
    ["an empty string", () => ""],
    ["a throw", () => {
      throw new Error("no session");
    }],
    ["a rejection", () => Promise.reject(new Error("no session"))],
  ] as const) {
    test(`getAccessToken answering ${name} → UNAUTHORIZED, 0 attempts, nothing sent`, async () => {
      const h = harness([okReply()], { getAccessToken: provider });
      const error = failed(await h.clock.settle(h.client.getLivekitToken({ sessionId: "s" })));
      assert.equal(error.code, "UNAUTHORIZED");
      assert.equal(error.attempts, 0);
      assert.equal(error.httpStatus, null);
      assert.equal(error.requestId, null);
      assert.equal(error.retryable, false);
      assert.equal(error.message, "Oturum süresi doldu, tekrar giriş yapın");
      assert.equal(h.fetch.requests.length, 0);
      assert.deepEqual(h.attempts, []);
    });
  }

  test("an async token is awaited", async () => {
    const h = harness([okReply()], { getAccessToken: () => Promise.resolve("async-token") });
    await h.clock.settle(h.client.getLivekitToken({ sessionId: "s" }));
    assert.equal(h.fetch.requests[0]!.headers["authorization"], "Bearer async-token");
  });

  test("a 401 is retried exactly once, with getAccessToken({ forceRefresh: true })", async () => {
    const h = harness([errorReply(401, "UNAUTHORIZED"), okReply()]);
    const result = await h.clock.settle(h.client.getLivekitToken({ sessionId: "s" }));
    assert.equal(result.ok, true);
    assert.deepEqual(h.tokenRequests, [{ forceRefresh: false }, { forceRefresh: true }]);
    assert.deepEqual(
      h.fetch.requests.map((request) => request.headers["authorization"]),
      ["Bearer token-1", "Bearer token-2"],
    );
    assert.deepEqual(h.waits(), [], "no wait before the refreshed attempt");
    assert.equal(h.attempts[0]!.retryInMs, 0);
  });

  test("a second 401 is the result, with attempts 2", async () => {
    const h = harness([errorReply(401, "UNAUTHORIZED"), errorReply(401, "UNAUTHORIZED"), okReply()]);
    const error = failed(await h.clock.settle(h.client.getLivekitToken({ sessionId: "s" })));
    assert.equal(error.code, "UNAUTHORIZED");
    assert.equal(error.attempts, 2);
    assert.equal(h.fetch.requests.length, 2);
    assert.equal(h.tokenRequests.length, 2);
  });

  test("a 401 on a non-idempotent route is retried once too (it was refused, not run)", async () => {
    const h = harness([errorReply(401, "UNAUTHORIZED"), okReply({}, 201)]);
    assert.equal((await h.clock.settle(h.client.callInitiate({ calleeId: "c" }))).ok, true);
    assert.equal(h.fetch.requests.length, 2);
  });

  test("retry: false still resends once with a refreshed token after a 401", async () => {
    // RequestOptions.retry says "`false` sends once whatever the answer"; the
    // token refresh is kept (a watch's poll should survive a token expiring).
    const perRequest = harness([errorReply(401, "UNAUTHORIZED"), okReply()]);
    assert.equal((await perRequest.clock.settle(perRequest.client.getLivekitToken({ sessionId: "s" }, { retry: false }))).ok, true);
    assert.equal(perRequest.fetch.requests.length, 2);
    const onClient = harness([errorReply(401, "UNAUTHORIZED"), okReply()], { retry: false });
    assert.equal((await onClient.clock.settle(onClient.client.getLivekitToken({ sessionId: "s" }))).ok, true);
    assert.equal(onClient.fetch.requests.length, 2);
  });

  test("a refresh that yields no token ends with UNAUTHORIZED after 1 attempt", async () => {
    const h = harness([errorReply(401, "UNAUTHORIZED"), okReply()], {
      getAccessToken: ({ forceRefresh }) => (forceRefresh ? null : "stale"),
    });
    const error = failed(await h.clock.settle(h.client.getLivekitToken({ sessionId: "s" })));
    assert.equal(error.code, "UNAUTHORIZED");
    assert.equal(error.attempts, 1);
    assert.equal(h.fetch.requests.length, 1);
  });

  test("after the refreshed attempt, later retries ask without forceRefresh", async () => {
    const h = harness([errorReply(401, "UNAUTHORIZED"), errorReply(500, "INTERNAL_ERROR", { retryable: true }), okReply()]);
    assert.equal((await h.clock.settle(h.client.getLivekitToken({ sessionId: "s" }))).ok, true);
    assert.deepEqual(h.tokenRequests, [{ forceRefresh: false }, { forceRefresh: true }, { forceRefresh: false }]);
  });
});

describe("the fake fetch itself", () => {
  test("an unscripted request is a NETWORK_ERROR and is recorded", async () => {
    const fetch = new FakeFetch();
    const clock = new FakeClock();
    const client = createFunctionsClient({ baseUrl: BASE_URL, getAccessToken: () => "t", fetch: fetch.fetch, clock, retry: false });
    assert.equal(failed(await clock.settle(client.health())).code, "NETWORK_ERROR");
    assert.equal(fetch.requests.length, 1);
  });
});
