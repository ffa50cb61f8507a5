import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { answerCall, endCall, isTerminal, rejectCall, startCall } from "../../src/index.js";
import type { Call, CallStatus } from "../../src/index.js";
import { harness } from "../support/client.js";
import { errorReply, okReply } from "../support/fake-fetch.js";

const CALL_ID = "44444444-4444-4444-8444-444444444444";
const CALLEE = "55555555-5555-4555-8555-555555555555";

function callRow(status: CallStatus, extra: Partial<Call> = {}): Call {
  return {
    id: CALL_ID,
    callerId: "66666666-6666-4666-8666-666666666666",
    calleeId: CALLEE,
    callType: "audio",
    status,
    roomName: `call-${CALL_ID}`,
    createdAt: "2030-01-01T00:00:00Z",
    ringingAt: "2030-01-01T00:00:01Z",
    acceptedAt: null,
    liveAt: null,
    endedAt: null,
    endReason: null,
    ...extra,
  };
}

const TOKEN = { token: "lk-jwt", wsUrl: "wss://lk.test", roomName: `call-${CALL_ID}`, identity: CALLEE, expiresAt: "2030-01-01T01:00:00Z" };

describe("startCall", () => {
  test("success: the call and the caller's connection; the request body", async () => {
    const h = harness([okReply({ ...TOKEN, role: "caller", call: callRow("ringing") }, 201)]);
    const result = await h.clock.settle(startCall(h.client, { calleeId: CALLEE, callType: "video" }));
    assert.deepEqual(result, {
      ok: true,
      call: callRow("ringing"),
      connection: { ...TOKEN, role: "caller" },
    });
    assert.equal(h.fetch.requests[0]!.url, "https://api.test/call-initiate");
    assert.deepEqual(h.fetch.requests[0]!.body, { calleeId: CALLEE, callType: "video" });
  });

  test("callType defaults to audio", async () => {
    const h = harness([okReply({ ...TOKEN, call: callRow("ringing") }, 201)]);
    await h.clock.settle(startCall(h.client, { calleeId: CALLEE }));
    assert.deepEqual(h.fetch.requests[0]!.body, { calleeId: CALLEE, callType: "audio" });
  });

  const failures: Array<[code: string, status: number, reason: string, retryable: boolean]> = [
    ["BUSY", 409, "busy", false],
    ["PUSH_FAILED", 502, "push_failed", true],
    ["CALLEE_UNREACHABLE", 409, "unreachable", false],
    ["USER_NOT_FOUND", 404, "user_not_found", false],
    ["CANNOT_CALL_SELF", 400, "self", false],
    ["INVALID_REQUEST", 400, "error", false],
    ["INTERNAL_ERROR", 500, "error", true],
  ];
  for (const [code, status, reason, retryable] of failures) {
    test(`${code} → ${reason}, sent once`, async () => {
      const h = harness([errorReply(status, code, { retryable }), okReply({ ...TOKEN, call: callRow("ringing") }, 201)]);
      const result = await h.clock.settle(startCall(h.client, { calleeId: CALLEE }));
      assert.equal(result.ok, false);
      if (result.ok) return;
      assert.equal(result.reason, reason);
      assert.equal(result.error.code, code);
      assert.equal(result.error.retryable, retryable);
      assert.equal(result.error.message, `server text for ${code}`);
      assert.equal(h.fetch.requests.length, 1);
    });
  }

  test("BUSY carries the status context", async () => {
    const h = harness([errorReply(409, "BUSY", { status: "live" })]);
    const result = await h.clock.settle(startCall(h.client, { calleeId: CALLEE }));
    assert.equal(!result.ok && result.error.context.status, "live");
  });

  test("a network failure is reason error, NETWORK_ERROR, not retried", async () => {
    const h = harness(["network", okReply({}, 201)]);
    const result = await h.clock.settle(startCall(h.client, { calleeId: CALLEE }));
    assert.equal(!result.ok && result.reason, "error");
    assert.equal(!result.ok && result.error.code, "NETWORK_ERROR");
    assert.equal(h.fetch.requests.length, 1);
  });
});

describe("answerCall", () => {
  test("success: the call and the callee's connection", async () => {
    const h = harness([okReply({ changed: true, call: callRow("accepted"), ...TOKEN, role: "callee" })]);
    const result = await h.clock.settle(answerCall(h.client, CALL_ID));
    assert.deepEqual(result, { ok: true, call: callRow("accepted"), connection: { ...TOKEN, role: "callee" } });
    assert.deepEqual(h.fetch.requests[0]!.body, { callId: CALL_ID, action: "accept" });
  });

  test("an accept answer without token fields is UNEXPECTED_RESPONSE", async () => {
    const h = harness([okReply({ changed: false, call: callRow("accepted") })]);
    const result = await h.clock.settle(answerCall(h.client, CALL_ID));
    assert.equal(!result.ok && result.reason, "error");
    assert.equal(!result.ok && result.error.code, "UNEXPECTED_RESPONSE");
  });

  const failures: Array<[name: string, status: number, code: string, extra: Record<string, unknown>, reason: string]> = [
    ["CALL_EXPIRED", 410, "CALL_EXPIRED", { status: "missed", call: callRow("missed") }, "expired"],
    ["INVALID_TRANSITION status missed", 409, "INVALID_TRANSITION", { status: "missed" }, "expired"],
    ["INVALID_TRANSITION status cancelled", 409, "INVALID_TRANSITION", { status: "cancelled", call: callRow("cancelled") }, "cancelled"],
    ["INVALID_TRANSITION status ended", 409, "INVALID_TRANSITION", { status: "ended" }, "over"],
    ["INVALID_TRANSITION status rejected", 409, "INVALID_TRANSITION", { status: "rejected" }, "over"],
    ["INVALID_TRANSITION status live", 409, "INVALID_TRANSITION", { status: "live" }, "error"],
    ["CALL_NOT_FOUND", 404, "CALL_NOT_FOUND", {}, "not_found"],
    ["FORBIDDEN", 403, "FORBIDDEN", {}, "error"],
  ];
  for (const [name, status, code, extra, reason] of failures) {
    test(`${name} → ${reason}`, async () => {
      const h = harness([errorReply(status, code, extra)]);
      const result = await h.clock.settle(answerCall(h.client, CALL_ID));
      assert.equal(result.ok, false);
      if (result.ok) return;
      assert.equal(result.reason, reason);
      assert.equal(result.error.code, code);
      assert.equal(h.fetch.requests.length, 1);
    });
  }
});

describe("rejectCall", () => {
  test("rejects; changed → not alreadyOver", async () => {
    const h = harness([okReply({ changed: true, call: callRow("rejected") })]);
    const result = await h.clock.settle(rejectCall(h.client, CALL_ID));
    assert.deepEqual(result, { ok: true, status: "rejected", call: callRow("rejected"), alreadyOver: false });
    assert.deepEqual(h.fetch.requests[0]!.body, { callId: CALL_ID, action: "reject" });
  });

  test("the caller cancelled first (INVALID_TRANSITION, cancelled) → ok, alreadyOver", async () => {
    const h = harness([errorReply(409, "INVALID_TRANSITION", { status: "cancelled", call: callRow("cancelled") })]);
    const result = await h.clock.settle(rejectCall(h.client, CALL_ID));
    assert.deepEqual(result, { ok: true, status: "cancelled", call: callRow("cancelled"), alreadyOver: true });
  });

  test("CALL_EXPIRED → ok, missed, alreadyOver", async () => {
    const h = harness([errorReply(410, "CALL_EXPIRED", { status: "missed" })]);
    const result = await h.clock.settle(rejectCall(h.client, CALL_ID));
    assert.deepEqual(result, { ok: true, status: "missed", call: null, alreadyOver: true });
  });

  test("CALL_NOT_FOUND → not_found; FORBIDDEN → forbidden", async () => {
    const h = harness([errorReply(404, "CALL_NOT_FOUND"), errorReply(403, "FORBIDDEN")]);
    const notFound = await h.clock.settle(rejectCall(h.client, CALL_ID));
    assert.equal(!notFound.ok && notFound.reason, "not_found");
    const forbidden = await h.clock.settle(rejectCall(h.client, CALL_ID));
    assert.equal(!forbidden.ok && forbidden.reason, "forbidden");
  });
});

describe("endCall", () => {
  test("end OK", async () => {
    const h = harness([okReply({ changed: true, call: callRow("ended"), roomDeletion: "done" })]);
    const result = await h.clock.settle(endCall(h.client, { callId: CALL_ID, role: "caller" }));
    assert.deepEqual(result, { ok: true, status: "ended", call: callRow("ended"), alreadyOver: false });
    assert.deepEqual(h.fetch.requests.map((request) => request.body), [{ callId: CALL_ID, action: "end" }]);
  });

  test("still ringing, the caller: end → INVALID_TRANSITION (ringing) → cancel", async () => {
    const h = harness([
      errorReply(409, "INVALID_TRANSITION", { status: "ringing", call: callRow("ringing") }),
      okReply({ changed: true, call: callRow("cancelled") }),
    ]);
    const result = await h.clock.settle(endCall(h.client, { callId: CALL_ID, role: "caller" }));
    assert.deepEqual(result, { ok: true, status: "cancelled", call: callRow("cancelled"), alreadyOver: false });
    assert.deepEqual(
      h.fetch.requests.map((request) => request.body),
      [
        { callId: CALL_ID, action: "end" },
        { callId: CALL_ID, action: "cancel" },
      ],
    );
  });

  test("still ringing, the callee: end → INVALID_TRANSITION (ringing) → reject", async () => {
    const h = harness([
      errorReply(409, "INVALID_TRANSITION", { status: "ringing" }),
      okReply({ changed: true, call: callRow("rejected") }),
    ]);
    const result = await h.clock.settle(endCall(h.client, { callId: CALL_ID, role: "callee" }));
    assert.equal(result.ok && result.status, "rejected");
    assert.deepEqual(
      h.fetch.requests.map((request) => request.body),
      [
        { callId: CALL_ID, action: "end" },
        { callId: CALL_ID, action: "reject" },
      ],
    );
  });

  test("accepted meanwhile: end → cancel refused (accepted) → end again", async () => {
    const h = harness([
      errorReply(409, "INVALID_TRANSITION", { status: "ringing" }),
      errorReply(409, "INVALID_TRANSITION", { status: "accepted" }),
      okReply({ changed: true, call: callRow("ended") }),
    ]);
    const result = await h.clock.settle(endCall(h.client, { callId: CALL_ID, role: "caller" }));
    assert.equal(result.ok && result.status, "ended");
    assert.deepEqual(
      h.fetch.requests.map((request) => (request.body as { action: string }).action),
      ["end", "cancel", "end"],
    );
  });

  test("never more than five requests", async () => {
    const h = harness(Array.from({ length: 6 }, () => errorReply(409, "INVALID_TRANSITION", { status: "accepted" })));
    const result = await h.clock.settle(endCall(h.client, { callId: CALL_ID, role: "callee" }));
    assert.equal(!result.ok && result.error.code, "INVALID_TRANSITION");
    assert.deepEqual(
      h.fetch.requests.map((request) => (request.body as { action: string }).action),
      ["end", "reject", "end", "reject", "end"],
    );
  });

  for (const status of ["ended", "failed", "missed", "rejected", "busy", "cancelled"] as const) {
    test(`INVALID_TRANSITION with the terminal status ${status} → ok, alreadyOver`, async () => {
      const h = harness([errorReply(409, "INVALID_TRANSITION", { status, call: callRow(status) })]);
      const result = await h.clock.settle(endCall(h.client, { callId: CALL_ID, role: "caller" }));
      assert.deepEqual(result, { ok: true, status, call: callRow(status), alreadyOver: true });
      assert.equal(h.fetch.requests.length, 1);
    });
  }

  test("a repeat (changed: false) → ok, alreadyOver", async () => {
    const h = harness([okReply({ changed: false, call: callRow("ended") })]);
    const result = await h.clock.settle(endCall(h.client, { callId: CALL_ID, role: "callee" }));
    assert.deepEqual(result, { ok: true, status: "ended", call: callRow("ended"), alreadyOver: true });
  });

  test("CALL_NOT_FOUND → not_found", async () => {
    const h = harness([errorReply(404, "CALL_NOT_FOUND")]);
    const result = await h.clock.settle(endCall(h.client, { callId: CALL_ID, role: "caller" }));
    assert.equal(!result.ok && result.reason, "not_found");
  });

  test("call-action is idempotent: an INTERNAL_ERROR is retried", async () => {
    const h = harness([errorReply(500, "INTERNAL_ERROR", { retryable: true }), okReply({ changed: true, call: callRow("ended") })]);
    const result = await h.clock.settle(endCall(h.client, { callId: CALL_ID, role: "caller" }));
    assert.equal(result.ok, true);
    assert.equal(h.fetch.requests.length, 2);
  });
});

describe("isTerminal", () => {
  test("terminal and active statuses", () => {
    for (const status of ["ended", "failed", "missed", "rejected", "busy", "cancelled"]) assert.equal(isTerminal(status), true, status);
    for (const status of ["initiated", "ringing", "accepted", "live", ""]) assert.equal(isTerminal(status), false, status);
  });
});
