import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  CALLKIT_END_REASON_CODES,
  CallPushTracker,
  INITIAL_CALL_PUSH_STATE,
  callKitEndReason,
  decideCallPush,
  noteCallHere,
  parseCallPush,
} from "../../src/index.js";
import type {
  CallEndedStatus,
  CallPush,
  CallPushAction,
  CallPushState,
  IncomingCallPush,
  PushKind,
  TrackedCall,
} from "../../src/index.js";
import { FakeClock } from "../support/fake-clock.js";

const CALL_ID = "44444444-4444-4444-8444-444444444444";
const OTHER_CALL = "77777777-7777-4777-8777-777777777777";
const CALLER = "66666666-6666-4666-8666-666666666666";

/** The keys the server sends, as FCM carries them: every value a string. */
const INCOMING = { type: "incoming_call", callId: CALL_ID, callerId: CALLER, callerName: "Ayşe Yılmaz", callType: "video" };
const ENDED = (status: string, callId = CALL_ID) => ({ type: "call_ended", callId, status });

const RINGS: IncomingCallPush = { type: "incoming_call", callId: CALL_ID, callerId: CALLER, callerName: "Ayşe Yılmaz", callType: "video" };

function check(raw: unknown, expected: CallPush) {
  assert.deepEqual(parseCallPush(raw), expected);
}

function invalid(field: string): CallPush {
  return { type: "unknown", reason: "invalid_field", field };
}

const OTHER_TYPE: CallPush = { type: "unknown", reason: "other_type", field: "type" };
const NOT_AN_OBJECT: CallPush = { type: "unknown", reason: "not_an_object", field: null };

describe("parseCallPush: each provider's shape", () => {
  test("APNs VoIP: the keys at the payload's top level, beside aps", () => {
    check({ aps: { "content-available": 1 }, ...INCOMING }, RINGS);
  });

  test("FCM: a data-only message, every value a string", () => {
    check({ ...INCOMING }, RINGS);
    check(ENDED("accepted"), { type: "call_ended", callId: CALL_ID, status: "accepted" });
  });

  test("Expo: the notification's data, with Expo's own keys beside", () => {
    check({ ...INCOMING, experienceId: "@app/app", scopeKey: "@app/app" }, RINGS);
  });

  test("Expo on Android, as raw FCM data: the data is the JSON text in body", () => {
    check({ title: "Gelen arama", message: "Ayşe sizi arıyor", body: JSON.stringify(INCOMING), experienceId: "@app/app" }, RINGS);
    check({ dataString: JSON.stringify(ENDED("missed")) }, { type: "call_ended", callId: CALL_ID, status: "missed" });
  });

  test("Expo in an iOS background task: the data is an object in body", () => {
    check({ aps: { "content-available": 1 }, body: ENDED("cancelled") }, { type: "call_ended", callId: CALL_ID, status: "cancelled" });
  });

  test("a server from before the stop-ringing push: Expo data without type and callerName still rings", () => {
    check({ callId: CALL_ID, callerId: CALLER, callType: "audio" }, { ...RINGS, callerName: "", callType: "audio" });
  });

  test("every status a ringing call can stop ringing in", () => {
    for (const status of ["accepted", "rejected", "cancelled", "missed"] as const) {
      check(ENDED(status), { type: "call_ended", callId: CALL_ID, status });
    }
  });

  test("a status no ringing call moves to is not a call_ended push", () => {
    for (const status of ["failed", "ended", "busy", "ringing"]) {
      check({ type: "call_ended", callId: CALL_ID, status }, { type: "unknown", reason: "invalid_field", field: "status" });
    }
  });

  test("ids are lower-cased, so that the same call from two providers is one", () => {
    check({ ...INCOMING, callId: CALL_ID.toUpperCase(), callerId: CALLER.toUpperCase() }, RINGS);
  });
});

describe("parseCallPush: hostile and garbled payloads", () => {
  const notObjects: Array<[name: string, raw: unknown]> = [
    ["undefined", undefined],
    ["null", null],
    ["a number", 42],
    ["a string", JSON.stringify(INCOMING)],
    ["a boolean", true],
    ["an array", [INCOMING]],
  ];
  for (const [name, raw] of notObjects) {
    test(`${name} is not_an_object`, () => check(raw, NOT_AN_OBJECT));
  }

  const otherTypes: Array<[name: string, raw: unknown]> = [
    ["an empty object", {}],
    ["another app push", { type: "chat_message", messageId: "1" }],
    ["a type in another case", { ...INCOMING, type: "Incoming_Call" }],
    ["a type that is not a string", { ...INCOMING, type: 1 }],
    ["a null type", { ...INCOMING, type: null }],
    ["body that is not JSON", { body: "{not json" }],
    ["body that is a JSON array", { body: JSON.stringify([INCOMING]) }],
    ["body JSON over 8 KiB", { body: JSON.stringify({ ...INCOMING, pad: "x".repeat(9000) }) }],
    ["keys only inherited from a prototype", Object.create(INCOMING)],
    ["a __proto__ key (JSON.parse makes it an own key)", JSON.parse(`{"__proto__": ${JSON.stringify(INCOMING)}}`)],
  ];
  for (const [name, raw] of otherTypes) {
    test(`${name} is other_type`, () => check(raw, OTHER_TYPE));
  }

  const invalidFields: Array<[name: string, raw: unknown, field: string]> = [
    ["no callId", { ...INCOMING, callId: undefined }, "callId"],
    ["a callId that is not a UUID", { ...INCOMING, callId: "../../etc/passwd" }, "callId"],
    ["a callId with SQL in it", { ...INCOMING, callId: "' OR 1=1 --" }, "callId"],
    ["a callId one character long", { ...INCOMING, callId: `${CALL_ID}0` }, "callId"],
    ["a callId in braces", { ...INCOMING, callId: `{${CALL_ID}}` }, "callId"],
    ["a callId with a newline after it", { ...INCOMING, callId: `${CALL_ID}\n` }, "callId"],
    ["a numeric callId", { ...INCOMING, callId: 44 }, "callId"],
    ["no callerId", { ...INCOMING, callerId: undefined }, "callerId"],
    ["a callerId that is not a UUID", { ...INCOMING, callerId: "admin" }, "callerId"],
    ["a callType that is not ours", { ...INCOMING, callType: "screen" }, "callType"],
    ["an upper-case callType", { ...INCOMING, callType: "VIDEO" }, "callType"],
    ["no callType", { ...INCOMING, callType: undefined }, "callType"],
    ["a callerName that is a number", { ...INCOMING, callerName: 7 }, "callerName"],
    ["a callerName that is null", { ...INCOMING, callerName: null }, "callerName"],
    ["a callerName that is an object", { ...INCOMING, callerName: { first: "A" } }, "callerName"],
    ["a call_ended without status", { type: "call_ended", callId: CALL_ID }, "status"],
    ["a call_ended with a status a ringing call cannot end in", ENDED("ringing"), "status"],
    ["a call_ended with status ended", ENDED("ended"), "status"],
    ["a call_ended with status busy", ENDED("busy"), "status"],
    ["a call_ended with a bad callId", ENDED("accepted", "nope"), "callId"],
  ];
  for (const [name, raw, field] of invalidFields) {
    // As a provider delivers it: JSON (an undefined key is no key).
    test(`${name} is invalid_field ${field}`, () => check(JSON.parse(JSON.stringify(raw)), invalid(field)));
  }

  test("a callId as an object (not JSON) is invalid too", () => {
    check({ ...INCOMING, callId: { toString: () => CALL_ID } }, invalid("callId"));
  });

  test("a throwing getter or a revoked Proxy: unknown, never a throw", () => {
    const throwing = Object.defineProperty({}, "type", {
      enumerable: true,
      get() {
        throw new Error("boom");
      },
    });
    check(throwing, NOT_AN_OBJECT);
    const { proxy, revoke } = Proxy.revocable({ ...INCOMING }, {});
    revoke();
    check(proxy, NOT_AN_OBJECT);
  });

  const names: Array<[name: string, raw: string, clean: string]> = [
    ["a right-to-left override that disguises a name", "\u202Eelppa", "elppa"],
    ["zero-width spaces and a byte order mark", "\uFEFFAy\u200Bşe", "Ayşe"],
    ["whitespace and control characters as single spaces", "  Ayşe \n\t\u0000 Yılmaz  ", "Ayşe Yılmaz"],
    ["an emoji sequence keeps its joiner", "Aile 👨\u200D👩\u200D👧", "Aile 👨\u200D👩\u200D👧"],
    ["nothing but invisible characters", "\u200B\u202E \n", ""],
    ["over 100 characters is cut", "ş".repeat(300), "ş".repeat(100)],
    ["a cut right after a word leaves no space behind", `${"a".repeat(100)} b`, "a".repeat(100)],
  ];
  for (const [name, raw, clean] of names) {
    test(`callerName: ${name}`, () => check({ ...INCOMING, callerName: raw }, { ...RINGS, callerName: clean }));
  }
});

describe("callKitEndReason", () => {
  test("the reason each status shows, and CXCallEndedReason's raw values", () => {
    const table: Array<[CallEndedStatus, string]> = [
      ["accepted", "answeredElsewhere"],
      ["rejected", "declinedElsewhere"],
      ["cancelled", "remoteEnded"],
      ["missed", "unanswered"],
    ];
    for (const [status, reason] of table) assert.equal(callKitEndReason(status), reason, status);
    assert.deepEqual(CALLKIT_END_REASON_CODES, { failed: 1, remoteEnded: 2, unanswered: 3, answeredElsewhere: 4, declinedElsewhere: 5 });
  });
});

const NOW = 1_000_000;
const AT = NOW - 1000;
const SAME = "same" as const;

type DecideRow = [
  name: string,
  known: TrackedCall | undefined,
  push: unknown,
  via: PushKind,
  action: CallPushAction,
  next: TrackedCall | undefined | typeof SAME,
];

const ringing: TrackedCall = { phase: "ringing", at: AT };
const answered: TrackedCall = { phase: "answered", at: AT };
const overByPush: TrackedCall = { phase: "over", status: "cancelled", endedHere: false, at: AT };
const overHere: TrackedCall = { phase: "over", status: null, endedHere: true, at: AT };

const ring: CallPushAction = { type: "ring", call: RINGS };
const ignore = (why: Extract<CallPushAction, { type: "ignore" }>["why"], callId: string | null = CALL_ID): CallPushAction => ({
  type: "ignore",
  callId,
  why,
});
const end = (status: CallEndedStatus): CallPushAction => ({ type: "end", callId: CALL_ID, status, reason: callKitEndReason(status) });
const reportAndEnd = (status: CallEndedStatus | null, reason = status === null ? "remoteEnded" : callKitEndReason(status)): CallPushAction => ({
  type: "report_and_end",
  callId: CALL_ID,
  status,
  reason: reason as ReturnType<typeof callKitEndReason>,
});
const over = (status: CallEndedStatus | null, endedHere = false): TrackedCall => ({ phase: "over", status, endedHere, at: NOW });

// Every phase × every push × VoIP or not (Expo and FCM behave alike; the table has both).
const DECIDE: DecideRow[] = [
  ["unknown call, incoming (fcm)", undefined, INCOMING, "fcm", ring, { phase: "ringing", at: NOW }],
  ["unknown call, incoming (expo)", undefined, INCOMING, "expo", ring, { phase: "ringing", at: NOW }],
  ["unknown call, incoming (voip)", undefined, INCOMING, "apns_voip", ring, { phase: "ringing", at: NOW }],
  ["unknown call, call_ended before incoming (fcm)", undefined, ENDED("cancelled"), "fcm", ignore("not_shown"), over("cancelled")],
  ["unknown call, call_ended before incoming (expo)", undefined, ENDED("missed"), "expo", ignore("not_shown"), over("missed")],
  ["unknown call, call_ended before incoming (voip): report, end", undefined, ENDED("accepted"), "apns_voip", reportAndEnd("accepted"), over("accepted")],

  ["ringing, incoming again (fcm)", ringing, INCOMING, "fcm", ignore("duplicate"), SAME],
  ["ringing, incoming again (voip): CallKit shows it", ringing, INCOMING, "apns_voip", ignore("duplicate"), SAME],
  ["ringing, accepted elsewhere (fcm)", ringing, ENDED("accepted"), "fcm", end("accepted"), over("accepted")],
  ["ringing, rejected elsewhere (voip)", ringing, ENDED("rejected"), "apns_voip", end("rejected"), over("rejected")],
  ["ringing, cancelled (expo)", ringing, ENDED("cancelled"), "expo", end("cancelled"), over("cancelled")],
  ["ringing, missed (fcm)", ringing, ENDED("missed"), "fcm", end("missed"), over("missed")],

  ["answered here, incoming again (expo)", answered, INCOMING, "expo", ignore("duplicate"), SAME],
  ["answered here, incoming again (voip): in a call", answered, INCOMING, "apns_voip", ignore("duplicate"), SAME],
  ["answered here, its own accepted (fcm)", answered, ENDED("accepted"), "fcm", ignore("answered_here"), SAME],
  ["answered here, its own accepted (expo)", answered, ENDED("accepted"), "expo", ignore("answered_here"), SAME],
  ["answered here, its own accepted (voip)", answered, ENDED("accepted"), "apns_voip", ignore("answered_here"), SAME],
  ["answered here, but the caller cancelled first (voip)", answered, ENDED("cancelled"), "apns_voip", end("cancelled"), over("cancelled")],
  ["answered here, but it was missed first (fcm)", answered, ENDED("missed"), "fcm", end("missed"), over("missed")],

  ["over, a late incoming (fcm)", overByPush, INCOMING, "fcm", ignore("stale"), { ...overByPush, at: NOW }],
  ["over, a late incoming (expo)", overByPush, INCOMING, "expo", ignore("stale"), { ...overByPush, at: NOW }],
  ["over, a late incoming (voip): report, end", overByPush, INCOMING, "apns_voip", reportAndEnd("cancelled"), { ...overByPush, at: NOW }],
  ["over, call_ended again (fcm)", overByPush, ENDED("cancelled"), "fcm", ignore("duplicate"), { ...overByPush, at: NOW }],
  ["over, call_ended again (voip): report, end", overByPush, ENDED("cancelled"), "apns_voip", reportAndEnd("cancelled"), { ...overByPush, at: NOW }],
  ["over, a call_ended with another status keeps the first", overByPush, ENDED("missed"), "fcm", ignore("duplicate"), { ...overByPush, at: NOW }],

  ["ended here, its call_ended (fcm)", overHere, ENDED("rejected"), "fcm", ignore("ended_here"), over("rejected", true)],
  ["ended here, its call_ended (voip): report, end", overHere, ENDED("rejected"), "apns_voip", reportAndEnd("rejected"), over("rejected", true)],
  ["ended here, a late incoming (expo)", overHere, INCOMING, "expo", ignore("stale"), { ...overHere, at: NOW }],
  ["ended here, a late incoming (voip): report, end", overHere, INCOMING, "apns_voip", reportAndEnd(null), { ...overHere, at: NOW }],
];

describe("decideCallPush: every phase × push × provider", () => {
  for (const [name, known, push, via, action, next] of DECIDE) {
    test(name, () => {
      const state: CallPushState = { calls: known === undefined ? {} : { [CALL_ID]: known } };
      const result = decideCallPush(state, parseCallPush(push), via, NOW);
      assert.deepEqual(result.action, action);
      if (next === SAME) assert.equal(result.state, state, "the state is the same object");
      else assert.deepEqual(result.state.calls[CALL_ID], next);
    });
  }

  const unknownPushes: Array<[PushKind, CallPushAction]> = [
    ["fcm", ignore("unknown", null)],
    ["expo", ignore("unknown", null)],
    ["apns_voip", { type: "report_and_end", callId: null, status: null, reason: "failed" }],
  ];
  for (const [via, action] of unknownPushes) {
    test(`a push that is not a call push (${via})`, () => {
      const state: CallPushState = { calls: { [CALL_ID]: ringing } };
      const result = decideCallPush(state, parseCallPush({ type: "chat_message" }), via, NOW);
      assert.deepEqual(result.action, action);
      assert.equal(result.state, state);
    });
  }

  test("a garbled VoIP push about a ringing call does not end it (a fresh UUID, not its id)", () => {
    const state: CallPushState = { calls: { [CALL_ID]: ringing } };
    const result = decideCallPush(state, parseCallPush({ ...INCOMING, callType: "hologram" }), "apns_voip", NOW);
    assert.deepEqual(result.action, { type: "report_and_end", callId: null, status: null, reason: "failed" });
    assert.deepEqual(result.state.calls[CALL_ID], ringing);
  });

  test("a hand-made push whose id names an Object property is still an unknown call", () => {
    const push: CallPush = { type: "call_ended", callId: "constructor", status: "missed" };
    assert.deepEqual(decideCallPush(INITIAL_CALL_PUSH_STATE, push, "fcm", NOW).action, ignore("not_shown", "constructor"));
  });

  test("pure: the given state is not changed", () => {
    const state: CallPushState = { calls: { [CALL_ID]: ringing } };
    const frozen = JSON.stringify(state);
    decideCallPush(state, parseCallPush(ENDED("accepted")), "fcm", NOW);
    noteCallHere(state, CALL_ID, "ended", NOW);
    assert.equal(JSON.stringify(state), frozen);
  });
});

describe("noteCallHere", () => {
  test("answered: from nothing or ringing; a call that is over stays over", () => {
    assert.deepEqual(noteCallHere(INITIAL_CALL_PUSH_STATE, CALL_ID, "answered", NOW).calls[CALL_ID], { phase: "answered", at: NOW });
    assert.deepEqual(noteCallHere({ calls: { [CALL_ID]: ringing } }, CALL_ID, "answered", NOW).calls[CALL_ID], { phase: "answered", at: NOW });
    const overState: CallPushState = { calls: { [CALL_ID]: overByPush } };
    assert.equal(noteCallHere(overState, CALL_ID, "answered", NOW), overState);
  });

  test("ended: from any phase, keeping the server's status when known", () => {
    for (const known of [undefined, ringing, answered]) {
      const state: CallPushState = { calls: known === undefined ? {} : { [CALL_ID]: known } };
      assert.deepEqual(noteCallHere(state, CALL_ID, "ended", NOW).calls[CALL_ID], over(null, true));
    }
    assert.deepEqual(noteCallHere({ calls: { [CALL_ID]: overByPush } }, CALL_ID, "ended", NOW).calls[CALL_ID], over("cancelled", true));
  });

  test("an upper-case id (CallKit's UUID string) is the same call", () => {
    const state = noteCallHere({ calls: { [CALL_ID]: ringing } }, CALL_ID.toUpperCase(), "answered", NOW);
    assert.deepEqual(state.calls, { [CALL_ID]: { phase: "answered", at: NOW } });
  });

  test("an id that is not a UUID changes nothing", () => {
    for (const id of ["", "x", "__proto__", `${CALL_ID} `]) {
      assert.equal(noteCallHere(INITIAL_CALL_PUSH_STATE, id, "answered", NOW), INITIAL_CALL_PUSH_STATE, id);
    }
  });
});

describe("decideCallPush: memory", () => {
  const MINUTE = 60_000;

  test("a call that is over is remembered for 10 minutes, then forgotten", () => {
    const state: CallPushState = { calls: { [CALL_ID]: { phase: "over", status: "cancelled", endedHere: false, at: 0 } } };
    assert.equal(decideCallPush(state, parseCallPush(INCOMING), "fcm", 10 * MINUTE).action.type, "ignore");
    const later = decideCallPush(state, parseCallPush(INCOMING), "fcm", 10 * MINUTE + 1);
    assert.equal(later.action.type, "ring");
  });

  test("each late copy extends the memory", () => {
    let state: CallPushState = { calls: { [CALL_ID]: { phase: "over", status: "cancelled", endedHere: false, at: 0 } } };
    for (const now of [9 * MINUTE, 18 * MINUTE, 27 * MINUTE]) {
      const step = decideCallPush(state, parseCallPush(INCOMING), "fcm", now);
      assert.deepEqual(step.action, ignore("stale"), `at ${now}`);
      state = step.state;
    }
  });

  test("forgetAfterMs is an option", () => {
    const state: CallPushState = { calls: { [CALL_ID]: { phase: "over", status: "missed", endedHere: false, at: 0 } } };
    assert.equal(decideCallPush(state, parseCallPush(INCOMING), "fcm", 2 * MINUTE, { forgetAfterMs: MINUTE }).action.type, "ring");
  });

  test("a call answered here is never forgotten (a late call_ended must not end it)", () => {
    const state: CallPushState = { calls: { [CALL_ID]: { phase: "answered", at: 0 } } };
    const result = decideCallPush(state, parseCallPush(ENDED("accepted")), "apns_voip", 24 * 60 * MINUTE);
    assert.deepEqual(result.action, ignore("answered_here"));
  });

  test("at most maxCalls are remembered, the oldest forgotten first, answered ones kept", () => {
    const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
    let state: CallPushState = noteCallHere(INITIAL_CALL_PUSH_STATE, id(0), "answered", 0);
    for (let n = 1; n <= 10; n++) state = decideCallPush(state, parseCallPush(ENDED("missed", id(n))), "fcm", n, { maxCalls: 4 }).state;
    assert.deepEqual(Object.keys(state.calls).sort(), [id(0), id(8), id(9), id(10)]);
  });

  test("a state persisted as JSON decides the same", () => {
    const first = decideCallPush(INITIAL_CALL_PUSH_STATE, parseCallPush(ENDED("cancelled")), "fcm", NOW);
    const restored = JSON.parse(JSON.stringify(first.state)) as CallPushState;
    assert.deepEqual(decideCallPush(restored, parseCallPush(INCOMING), "fcm", NOW + 1).action, ignore("stale"));
  });
});

describe("CallPushTracker: a device's day", () => {
  function tracker() {
    const clock = new FakeClock(NOW);
    const states: CallPushState[] = [];
    const t = new CallPushTracker({ clock, onChange: (state) => states.push(state) });
    return { clock, states, t };
  }

  test("Android (FCM and Expo): rings once, stops once when another device answers", () => {
    const { t } = tracker();
    assert.deepEqual(t.receive(INCOMING, "fcm"), ring);
    assert.deepEqual(t.receive({ ...INCOMING, experienceId: "@app/app" }, "expo"), ignore("duplicate"));
    assert.deepEqual(t.receive(ENDED("accepted"), "fcm"), end("accepted"));
    assert.deepEqual(t.receive(ENDED("accepted"), "expo"), ignore("duplicate"));
  });

  test("the iPhone that answers: its own stop message is ignored, whichever provider brings it", () => {
    const { t } = tracker();
    assert.deepEqual(t.receive(INCOMING, "apns_voip"), ring);
    assert.deepEqual(t.receive(INCOMING, "expo"), ignore("duplicate"));
    t.answeredHere(CALL_ID.toUpperCase());
    assert.deepEqual(t.receive(ENDED("accepted"), "apns_voip"), ignore("answered_here"));
    assert.deepEqual(t.receive(ENDED("accepted"), "expo"), ignore("answered_here"));
    assert.deepEqual(t.receive(ENDED("accepted"), "apns_voip"), ignore("answered_here"));
  });

  test("the iPhone that did not answer: ends with answeredElsewhere; a second VoIP copy is reported and ended", () => {
    const { t } = tracker();
    assert.deepEqual(t.receive(INCOMING, "apns_voip"), ring);
    assert.deepEqual(t.receive(ENDED("accepted"), "apns_voip"), end("accepted"));
    assert.deepEqual(t.receive(ENDED("accepted"), "expo"), ignore("duplicate"));
    assert.deepEqual(t.receive(ENDED("accepted"), "apns_voip"), reportAndEnd("accepted"));
  });

  test("out of order: call_ended first, then a late incoming_call does not ring", () => {
    const { t } = tracker();
    assert.deepEqual(t.receive(ENDED("cancelled"), "fcm"), ignore("not_shown"));
    assert.deepEqual(t.receive(INCOMING, "fcm"), ignore("stale"));
    assert.deepEqual(t.receive(INCOMING, "expo"), ignore("stale"));
  });

  test("out of order on iOS: both VoIP pushes are reported and ended, with the call's reason", () => {
    const { t } = tracker();
    assert.deepEqual(t.receive(ENDED("rejected"), "apns_voip"), reportAndEnd("rejected"));
    assert.deepEqual(t.receive(INCOMING, "apns_voip"), reportAndEnd("rejected"));
  });

  test("declined here: the rejected echo is ignored (reported and ended on iOS)", () => {
    const { t } = tracker();
    assert.deepEqual(t.receive(INCOMING, "fcm"), ring);
    t.endedHere(CALL_ID);
    assert.deepEqual(t.receive(ENDED("rejected"), "fcm"), ignore("ended_here"));
    assert.deepEqual(t.receive(ENDED("rejected"), "apns_voip"), reportAndEnd("rejected"));
  });

  test("answered here, then hung up: a late stop message is reported and ended on iOS, ignored elsewhere", () => {
    const { t } = tracker();
    t.receive(INCOMING, "apns_voip");
    t.answeredHere(CALL_ID);
    t.endedHere(CALL_ID);
    assert.deepEqual(t.receive(ENDED("accepted"), "expo"), ignore("ended_here"));
    assert.deepEqual(t.receive(ENDED("accepted"), "apns_voip"), reportAndEnd("accepted"));
  });

  test("two calls do not mix", () => {
    const { t } = tracker();
    assert.deepEqual(t.receive(INCOMING, "fcm"), ring);
    assert.deepEqual(t.receive(ENDED("missed", OTHER_CALL), "fcm"), ignore("not_shown", OTHER_CALL));
    assert.deepEqual(t.receive(ENDED("missed"), "fcm"), end("missed"));
  });

  test("the clock decides what is forgotten; onChange sees every new state, and no unchanged one", async () => {
    const { clock, states, t } = tracker();
    t.receive(ENDED("cancelled"), "fcm");
    assert.equal(states.length, 1);
    t.receive(ENDED("cancelled"), "expo");
    t.receive({ type: "chat_message" }, "fcm");
    assert.equal(states.length, 2, "the duplicate refreshed the memory; the chat push changed nothing");
    await clock.advance(10 * 60_000 + 1);
    assert.deepEqual(t.receive(INCOMING, "fcm"), ring);
    assert.equal(t.state, states.at(-1));
  });

  test("starts from a persisted state", () => {
    const persisted: CallPushState = { calls: { [CALL_ID]: { phase: "over", status: "missed", endedHere: false, at: NOW } } };
    const t = new CallPushTracker({ state: persisted, clock: new FakeClock(NOW) });
    assert.deepEqual(t.receive(INCOMING, "fcm"), ignore("stale"));
  });
});

describe("decideCallPush: random delivery never breaks the rules", () => {
  // A small deterministic generator (mulberry32), so that a failure repeats.
  function random(seed: number): () => number {
    let a = seed;
    return () => {
      a = (a + 0x6d2b79f5) | 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  // Enough calls that many ring, few enough that pushes about each one repeat.
  const ids = Array.from({ length: 40 }, (_, n) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`);
  // Nothing is forgotten, so that a second ring is a bug.
  const options = { forgetAfterMs: 1e12, maxCalls: 1000 };
  const statuses = ["accepted", "rejected", "cancelled", "missed"];
  const vias: PushKind[] = ["expo", "fcm", "apns_voip"];

  test("3,000 random steps: one action each, VoIP never ignored unless CallKit shows its call, no call rings twice", () => {
    const next = random(16);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
    let state = INITIAL_CALL_PUSH_STATE;
    let now = 0;
    const rang = new Set<string>();
    for (let step = 0; step < 3000; step++) {
      now += Math.floor(next() * 5000);
      const callId = pick(ids);
      const roll = next();
      if (roll < 0.1) {
        state = noteCallHere(state, callId, pick(["answered", "ended"] as const), now, options);
        continue;
      }
      const raw: unknown =
        roll < 0.45
          ? { ...INCOMING, callId }
          : roll < 0.85
            ? ENDED(pick(statuses), callId)
            : pick([null, "x", { type: "incoming_call" }, { ...INCOMING, callId: "bad" }, { body: "{" }]);
      const via = pick(vias);
      const before = state.calls[callId];
      const result = decideCallPush(state, parseCallPush(raw), via, now, options);
      const { action } = result;
      if (via === "apns_voip" && action.type === "ignore") {
        assert.ok(before?.phase === "ringing" || before?.phase === "answered", `step ${step}: a VoIP push ignored while ${before?.phase}`);
      }
      if (action.type === "ring") {
        assert.ok(!rang.has(action.call.callId), `step ${step}: ${action.call.callId} rang twice`);
        rang.add(action.call.callId);
      }
      if (action.type === "end") assert.ok(before?.phase === "ringing" || before?.phase === "answered", `step ${step}: end while ${before?.phase}`);
      for (const call of Object.values(result.state.calls)) assert.ok(["ringing", "answered", "over"].includes(call.phase));
      state = result.state;
    }
    assert.ok(rang.size > 10, `${rang.size} calls rang`);
  });
});
