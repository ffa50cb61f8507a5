// What a call push means for this device. The server sends the same keys
// through every provider: at the top level of an APNs VoIP payload, as an
// FCM data-only message (every value a string), as an Expo notification's
// `data`:
//
//   {"type": "incoming_call", "callId", "callerId", "callerName", "callType": "audio"|"video"}
//   {"type": "call_ended", "callId", "status": "accepted"|"rejected"|"cancelled"|"missed"}
//
// `call_ended` goes to every device of the callee when a ringing call stops
// ringing, the device that answered included. A device with several kinds
// gets each push once per provider, and a provider may deliver late, twice,
// or out of order (a `call_ended` before its `incoming_call`). So
// `parseCallPush` validates one payload from any provider, and
// `decideCallPush` (a pure step over a small state the app keeps, like
// `reduce` in connection.ts) says what the device must do: ring, end the
// ringing call with a CallKit reason, report and end at once (iOS), or
// ignore. `CallPushTracker` keeps that state for the app.
//
// On iOS, PushKit kills an app that has not reported a VoIP push to CallKit
// when its delegate returns, and after repeated misses stops delivering VoIP
// pushes (https://developer.apple.com/documentation/pushkit/pkpushregistrydelegate/pushregistry(_:didreceiveincomingpushwith:for:completion:)).
// JavaScript may not even be running then, so the app's native code reports
// each VoIP push at once, with `callId` as the CallKit UUID: an
// `incoming_call` as a new incoming call, a `call_ended` whose call CallKit
// does not show as a call it ends at once. The actions below then tell the
// JavaScript side the rest, and a VoIP push yields `ignore` only while
// CallKit shows its call.
import type { CallType, PushKind } from "./api.js";
import { systemClock } from "./clock.js";
import type { Clock } from "./clock.js";
import { isRecord } from "./errors.js";
import type { components } from "./generated/openapi.js";

/** The statuses a ringing call can stop ringing in: openapi.yaml's
 * `CallEndedStatus`, which a server test keeps equal to the call state
 * machine's transitions out of `ringing`. */
export type CallEndedStatus = components["schemas"]["CallEndedStatus"];

export interface IncomingCallPush {
  type: "incoming_call";
  /** A lower-case UUID; the app uses it as the CallKit UUID too. */
  callId: string;
  /** A lower-case UUID. */
  callerId: string;
  /** Cleaned up for display; empty when the push had none (the app shows its own word for "someone"). */
  callerName: string;
  callType: CallType;
}

export interface CallEndedPush {
  type: "call_ended";
  /** A lower-case UUID. */
  callId: string;
  status: CallEndedStatus;
}

/** Not a call push, or a malformed one. */
export interface UnknownPush {
  type: "unknown";
  /** For logs: `not_an_object`, `other_type` (another kind of push), or
   * `invalid_field` (`field` is missing or malformed). */
  reason: "not_an_object" | "other_type" | "invalid_field";
  field: string | null;
}

export type CallPush = IncomingCallPush | CallEndedPush | UnknownPush;

/** CallKit's `CXCallEndedReason`, by name. */
export type CallKitEndReason = "failed" | "remoteEnded" | "unanswered" | "answeredElsewhere" | "declinedElsewhere";

/** `CXCallEndedReason`'s raw values, which react-native-callkeep's
 * `reportEndCallWithUUID(uuid, reason)` takes. */
export const CALLKIT_END_REASON_CODES = {
  failed: 1,
  remoteEnded: 2,
  unanswered: 3,
  answeredElsewhere: 4,
  declinedElsewhere: 5,
} as const satisfies Record<CallKitEndReason, number>;

/** What the device does with a push. */
export type CallPushAction =
  /** A new call: show the incoming-call UI (CallKit's
   * `reportNewIncomingCall` with `callId` as the UUID, which the native code
   * may have done already; on Android the full-screen notification). */
  | { type: "ring"; call: IncomingCallPush }
  /** The call this device shows ringing (or was answering) stopped ringing
   * elsewhere: stop the ringing and end it with `reason`
   * (`reportCall(with:endedAt:reason:)`). */
  | { type: "end"; callId: string; status: CallEndedStatus; reason: CallKitEndReason }
  /** iOS only, for a VoIP push about a call this device does not show (it
   * ended, or never rang here): PushKit wants it reported, so report a new
   * incoming call with `callId` (a fresh UUID when null: the push was not a
   * call push) unless the native code did, and end it at once with `reason`. */
  | { type: "report_and_end"; callId: string | null; status: CallEndedStatus | null; reason: CallKitEndReason }
  /** Nothing to do. */
  | { type: "ignore"; callId: string | null; why: IgnoreReason };

/**
 * Why a push changes nothing:
 * - `answered_here`: the `call_ended` (accepted) for the call this device answered;
 * - `ended_here`: a `call_ended` for a call this device already ended (declined, hung up);
 * - `duplicate`: the same push again, or through another provider;
 * - `stale`: an `incoming_call` for a call that is over;
 * - `not_shown`: a `call_ended` for a call that never rang here (its
 *   `incoming_call` may still come: it will not ring);
 * - `unknown`: not a call push.
 * On iOS a VoIP push yields `ignore` only while CallKit shows its call
 * (ringing or answered here): an app with a call need not report another.
 */
export type IgnoreReason = "answered_here" | "ended_here" | "duplicate" | "stale" | "not_shown" | "unknown";

/** What this device knows of one call. `at`: the last change, in clock ms. */
export type TrackedCall =
  /** Shown, ringing. */
  | { phase: "ringing"; at: number }
  /** Answered on this device; stays until the app says the call ended here. */
  | { phase: "answered"; at: number }
  /** Over, or never to ring. `status`: the server's, null until its
   * `call_ended` arrives; `endedHere`: this device ended it. */
  | { phase: "over"; status: CallEndedStatus | null; endedHere: boolean; at: number };

/** The calls this device has heard of, by lower-case id. Plain data, so the
 * app may persist it across launches (iOS may start the app for one push and
 * end it soon after). */
export interface CallPushState {
  readonly calls: Readonly<Record<string, TrackedCall>>;
}

export interface CallPushOptions {
  /** How long a call that is over (or rang and was never settled) is
   * remembered, so that a late push about it does nothing. Default 10 min,
   * well past the server's ring timeout (30 s) and the providers' TTL. */
  forgetAfterMs?: number;
  /** At most this many calls are remembered; the oldest go first. Default 64. */
  maxCalls?: number;
}

export const INITIAL_CALL_PUSH_STATE: CallPushState = { calls: {} };

/** The reason CallKit shows for a call that stopped ringing elsewhere. */
export function callKitEndReason(status: CallEndedStatus): CallKitEndReason {
  switch (status) {
    case "accepted":
      return "answeredElsewhere";
    case "rejected":
      return "declinedElsewhere";
    case "missed":
      return "unanswered";
    case "cancelled":
      return "remoteEnded";
  }
}

/**
 * Reads a push from any provider: an APNs VoIP payload (PushKit's
 * `dictionaryPayload`), FCM's `data`, or Expo's `data`. Extra keys (`aps`,
 * Expo's own) are ignored; `callId` and `callerId` must be UUIDs, `callType`
 * and `status` one of theirs. Never throws, whatever it is given.
 */
export function parseCallPush(raw: unknown): CallPush {
  try {
    const payload = payloadOf(raw);
    return payload === null ? unknown("not_an_object", null) : parsePayload(payload);
  } catch {
    // A throwing getter or a revoked Proxy: a push handler must not throw
    // (on iOS the push would go unreported).
    return unknown("not_an_object", null);
  }
}

/**
 * One push (from `parseCallPush`: its ids lower-case), received `via` a
 * provider, at `now` (the clock's ms): the next state and the one thing to
 * do. Pure; the state is the same object when nothing changed.
 */
export function decideCallPush(
  state: CallPushState,
  push: CallPush,
  via: PushKind,
  now: number,
  options: CallPushOptions = {},
): { state: CallPushState; action: CallPushAction } {
  const calls = forget(state.calls, now, options);
  // PushKit's rule: a VoIP push must end up reported to CallKit.
  const mustReport = via === "apns_voip";
  if (push.type === "unknown") {
    const action: CallPushAction = mustReport
      ? { type: "report_and_end", callId: null, status: null, reason: "failed" }
      : { type: "ignore", callId: null, why: "unknown" };
    return { state: stateOf(calls, state), action };
  }
  const { callId } = push;
  const known = trackedCall(calls, callId);
  const remember = (call: TrackedCall) => ({ ...calls, [callId]: call });
  const reportAndEnd = (status: CallEndedStatus | null): CallPushAction => ({
    type: "report_and_end",
    callId,
    status,
    reason: status === null ? "remoteEnded" : callKitEndReason(status),
  });

  if (push.type === "incoming_call") {
    if (known === undefined) return { state: { calls: remember({ phase: "ringing", at: now }) }, action: { type: "ring", call: push } };
    if (known.phase !== "over") return { state: stateOf(calls, state), action: { type: "ignore", callId, why: "duplicate" } };
    // A late ring for a call that is over. Remember it longer: more copies may come.
    const action: CallPushAction = mustReport ? reportAndEnd(known.status) : { type: "ignore", callId, why: "stale" };
    return { state: { calls: remember({ ...known, at: now }) }, action };
  }

  const { status } = push;
  const ended: CallPushAction = { type: "end", callId, status, reason: callKitEndReason(status) };
  if (known === undefined) {
    // Before its incoming_call, or for a call that never rang here.
    const action: CallPushAction = mustReport ? reportAndEnd(status) : { type: "ignore", callId, why: "not_shown" };
    return { state: { calls: remember({ phase: "over", status, endedHere: false, at: now }) }, action };
  }
  switch (known.phase) {
    case "ringing":
      return { state: { calls: remember({ phase: "over", status, endedHere: false, at: now }) }, action: ended };
    case "answered":
      // This device's own answer comes back as `accepted`. Any other status
      // means the call ended before that answer took: it is over here too.
      if (status === "accepted") return { state: stateOf(calls, state), action: { type: "ignore", callId, why: "answered_here" } };
      return { state: { calls: remember({ phase: "over", status, endedHere: false, at: now }) }, action: ended };
    case "over": {
      const action: CallPushAction = mustReport
        ? reportAndEnd(known.status ?? status)
        : { type: "ignore", callId, why: known.endedHere ? "ended_here" : "duplicate" };
      return { state: { calls: remember({ ...known, status: known.status ?? status, at: now }) }, action };
    }
  }
}

/**
 * What this device did itself, at `now`: `answered` when the user accepts
 * (call it at the tap, before `answerCall`, so that the `call_ended` the
 * answer causes is ignored), `ended` when the call leaves the screen here
 * (declined, hung up, timed out). A `callId` that is not a UUID changes
 * nothing. Pure.
 */
export function noteCallHere(
  state: CallPushState,
  callId: string,
  what: "answered" | "ended",
  now: number,
  options: CallPushOptions = {},
): CallPushState {
  const id = uuidOf(callId);
  if (id === null) return state;
  const calls = forget(state.calls, now, options);
  const known = trackedCall(calls, id);
  let next: TrackedCall;
  if (what === "answered") {
    // A call that is over cannot be answered: the accept will fail.
    if (known?.phase === "over") return stateOf(calls, state);
    next = { phase: "answered", at: now };
  } else {
    next = { phase: "over", status: known?.phase === "over" ? known.status : null, endedHere: true, at: now };
  }
  return { calls: { ...calls, [id]: next } };
}

export interface CallPushTrackerOptions extends CallPushOptions {
  /** Where to start, e.g. a state the app persisted. */
  state?: CallPushState;
  clock?: Clock;
  /** Called with every new state (to persist it). */
  onChange?: (state: CallPushState) => void;
}

/** Keeps the state for the app: one per process, fed by every push handler
 * (PushKit, FCM, expo-notifications) and the call screen. */
export class CallPushTracker {
  private current: CallPushState;
  private readonly clock: Clock;

  constructor(private readonly options: CallPushTrackerOptions = {}) {
    this.current = options.state ?? INITIAL_CALL_PUSH_STATE;
    this.clock = options.clock ?? systemClock;
  }

  get state(): CallPushState {
    return this.current;
  }

  /** Parses a push's raw data as it arrived `via` a provider, and decides. Never throws. */
  receive(raw: unknown, via: PushKind): CallPushAction {
    const { state, action } = decideCallPush(this.current, parseCallPush(raw), via, this.clock.now(), this.options);
    this.set(state);
    return action;
  }

  /** The user accepted `callId` on this device (call it before `answerCall`). */
  answeredHere(callId: string): void {
    this.set(noteCallHere(this.current, callId, "answered", this.clock.now(), this.options));
  }

  /** `callId` left the screen on this device: declined, hung up, timed out. */
  endedHere(callId: string): void {
    this.set(noteCallHere(this.current, callId, "ended", this.clock.now(), this.options));
  }

  private set(state: CallPushState): void {
    if (state === this.current) return;
    this.current = state;
    this.options.onChange?.(state);
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CALL_TYPES: ReadonlySet<unknown> = new Set<CallType>(["audio", "video"]);
// Invariant: every CallEndedStatus (the `satisfies` fails to compile otherwise).
const ENDED_STATUSES: ReadonlySet<unknown> = new Set(
  Object.keys({ accepted: true, rejected: true, cancelled: true, missed: true } satisfies Record<CallEndedStatus, true>),
);
/** A push is at most 4 KiB (5 KiB for VoIP); more is not one of ours. */
const MAX_NESTED_JSON_CHARS = 8 * 1024;
/** As the server's display names (`users.display_name`). */
const MAX_CALLER_NAME_CHARS = 100;
const DEFAULT_FORGET_AFTER_MS = 10 * 60_000;
const DEFAULT_MAX_CALLS = 64;

/** The record that holds the push's keys. Expo hands a data message to
 * Android as FCM data whose `body` is the JSON of `data` (a background task
 * may see it as `dataString`); an iOS background task sees `body` as an
 * object. */
function payloadOf(raw: unknown): Record<string, unknown> | null {
  if (!isRecord(raw)) return null;
  if (own(raw, "type") !== undefined || own(raw, "callId") !== undefined) return raw;
  for (const key of ["body", "dataString"]) {
    const inner = own(raw, key);
    if (isRecord(inner)) return inner;
    if (typeof inner === "string" && inner.length <= MAX_NESTED_JSON_CHARS) {
      const parsed = parseJson(inner);
      if (isRecord(parsed)) return parsed;
    }
  }
  return raw;
}

function parsePayload(payload: Record<string, unknown>): CallPush {
  // Servers from before the stop-ringing push sent Expo's `data` as
  // {callId, callerId, callType}: no type, no callerName. It still rings.
  const given = own(payload, "type");
  const type = given === undefined && own(payload, "callId") !== undefined ? "incoming_call" : given;
  if (type !== "incoming_call" && type !== "call_ended") return unknown("other_type", "type");
  const callId = uuidOf(own(payload, "callId"));
  if (callId === null) return unknown("invalid_field", "callId");
  if (type === "call_ended") {
    const status = own(payload, "status");
    if (!ENDED_STATUSES.has(status)) return unknown("invalid_field", "status");
    return { type, callId, status: status as CallEndedStatus };
  }
  const callerId = uuidOf(own(payload, "callerId"));
  if (callerId === null) return unknown("invalid_field", "callerId");
  const callType = own(payload, "callType");
  if (!CALL_TYPES.has(callType)) return unknown("invalid_field", "callType");
  const callerName = own(payload, "callerName");
  if (callerName !== undefined && typeof callerName !== "string") return unknown("invalid_field", "callerName");
  return { type, callId, callerId, callerName: cleanName(callerName ?? ""), callType: callType as CallType };
}

/** A name as the server cleans display names: invisible formatting
 * characters (bidirectional overrides, zero-width spaces) dropped, because
 * they can disguise a caller; whitespace and control characters as single
 * spaces; at most 100 characters. */
function cleanName(raw: string): string {
  const words = raw
    .replace(/[\u200B\u200E\u200F\u202A-\u202E\u2060\u2066-\u2069\uFEFF]/g, "")
    .split(/[\s\p{Cc}]+/u)
    .filter((word) => word !== "");
  return Array.from(words.join(" ")).slice(0, MAX_CALLER_NAME_CHARS).join("").trimEnd();
}

function uuidOf(value: unknown): string | null {
  return typeof value === "string" && UUID.test(value) ? value.toLowerCase() : null;
}

/** An own property only: a key inherited from a prototype is not the push's. */
function own(record: Record<string, unknown>, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(record, key) ? record[key] : undefined;
}

/** An own entry only, so that an id like `constructor` finds nothing. */
function trackedCall(calls: Readonly<Record<string, TrackedCall>>, callId: string): TrackedCall | undefined {
  return own(calls, callId) as TrackedCall | undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function unknown(reason: UnknownPush["reason"], field: string | null): UnknownPush {
  return { type: "unknown", reason, field };
}

/** Drops the calls remembered too long, and the oldest past `maxCalls`. A
 * call answered here stays: forgetting it would let a late `call_ended` end
 * it (`report_and_end` on its UUID). */
function forget(calls: Readonly<Record<string, TrackedCall>>, now: number, options: CallPushOptions): Readonly<Record<string, TrackedCall>> {
  const forgetAfterMs = options.forgetAfterMs ?? DEFAULT_FORGET_AFTER_MS;
  const maxCalls = options.maxCalls ?? DEFAULT_MAX_CALLS;
  const entries = Object.entries(calls);
  let kept = entries.filter(([, call]) => call.phase === "answered" || now - call.at <= forgetAfterMs);
  // Room for the call this step may add.
  const overflow = kept.length - Math.max(0, maxCalls - 1);
  if (overflow > 0) {
    const oldest = kept
      .filter(([, call]) => call.phase !== "answered")
      .sort(([, a], [, b]) => a.at - b.at)
      .slice(0, overflow);
    const dropped = new Set(oldest.map(([id]) => id));
    kept = kept.filter(([id]) => !dropped.has(id));
  }
  return kept.length === entries.length ? calls : Object.fromEntries(kept);
}

/** The state for `calls`: the same object when nothing changed, so that a
 * runner can tell. */
function stateOf(calls: Readonly<Record<string, TrackedCall>>, previous: CallPushState): CallPushState {
  return calls === previous.calls ? previous : { calls };
}
