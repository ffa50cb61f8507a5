// The 1-1 call flows on top of the client: each answers what happened in
// terms the call screen acts on (busy, expired, already over...), with the
// typed error for its text.
import type { Call, CallStatus, CallType } from "./api.js";
import type { FunctionsClient, RequestOptions } from "./client.js";
import { clientError } from "./errors.js";
import type { KitError } from "./errors.js";

/** What `room.connect(wsUrl, token)` needs, and who this user is in the call. */
export interface CallConnection {
  token: string;
  wsUrl: string;
  roomName: string;
  identity: string;
  expiresAt: string;
  role: "caller" | "callee";
}

const TERMINAL: ReadonlySet<string> = new Set<CallStatus>(["ended", "failed", "missed", "rejected", "busy", "cancelled"]);

export function isTerminal(status: string): boolean {
  return TERMINAL.has(status);
}

export type StartCallFailure = "busy" | "push_failed" | "unreachable" | "user_not_found" | "self" | "error";

export type StartCallResult =
  | { ok: true; call: Call; connection: CallConnection }
  | { ok: false; reason: StartCallFailure; error: KitError };

/** Rings `calleeId`. `busy`: the callee (or this user) is in another call;
 * `push_failed`: the callee's phone could not be reached now (retryable: offer
 * "call again"); `unreachable`: the callee has no device to ring. */
export async function startCall(
  client: FunctionsClient,
  input: { calleeId: string; callType?: CallType },
  options?: RequestOptions,
): Promise<StartCallResult> {
  const result = await client.callInitiate({ calleeId: input.calleeId, callType: input.callType ?? "audio" }, options);
  if (!result.ok) {
    const reasons: Partial<Record<string, StartCallFailure>> = {
      BUSY: "busy",
      PUSH_FAILED: "push_failed",
      CALLEE_UNREACHABLE: "unreachable",
      USER_NOT_FOUND: "user_not_found",
      CANNOT_CALL_SELF: "self",
    };
    return { ok: false, reason: reasons[result.error.code] ?? "error", error: result.error };
  }
  return { ok: true, call: result.data.call, connection: { ...connectionOf(result.data), role: "caller" } };
}

export type AnswerCallFailure = "expired" | "cancelled" | "over" | "not_found" | "error";

export type AnswerCallResult =
  | { ok: true; call: Call; connection: CallConnection }
  | { ok: false; reason: AnswerCallFailure; error: KitError };

/** Accepts an incoming call. `expired`: it rang past its deadline (missed);
 * `cancelled`: the caller hung up first; `over`: it ended some other way. A
 * repeated accept (a second tap, a retry) answers the same connection. */
export async function answerCall(client: FunctionsClient, callId: string, options?: RequestOptions): Promise<AnswerCallResult> {
  const result = await client.callAction({ callId, action: "accept" }, options);
  if (!result.ok) {
    const { error } = result;
    const status = error.context.status ?? "";
    const reason: AnswerCallFailure =
      error.code === "CALL_EXPIRED" || status === "missed"
        ? "expired"
        : error.code === "CALL_NOT_FOUND"
          ? "not_found"
          : status === "cancelled"
            ? "cancelled"
            : error.code === "INVALID_TRANSITION" && isTerminal(status)
              ? "over"
              : "error";
    return { ok: false, reason, error };
  }
  const { data } = result;
  if (typeof data.token !== "string" || typeof data.wsUrl !== "string") {
    const error = clientError("UNEXPECTED_RESPONSE", options?.language ?? client.language(), {
      httpStatus: 200,
      requestId: result.requestId,
      attempts: 1,
    });
    return { ok: false, reason: "error", error };
  }
  return { ok: true, call: data.call, connection: { ...connectionOf(data as Required<typeof data>), role: "callee" } };
}

export type CallEndResult =
  | {
      ok: true;
      /** The call's status now. */
      status: CallStatus;
      /** The call row, when the server sent it. */
      call: Call | null;
      /** The call was already over (a repeat, or the other side was first). */
      alreadyOver: boolean;
    }
  | { ok: false; reason: "not_found" | "forbidden" | "error"; error: KitError };

/** Declines an incoming call. A call that ended meanwhile is `alreadyOver`. */
export async function rejectCall(client: FunctionsClient, callId: string, options?: RequestOptions): Promise<CallEndResult> {
  return act(client, callId, "reject", options);
}

/** Hangs up, whatever the call's state: `end` once accepted, otherwise
 * `cancel` (the caller) or `reject` (the callee). A call that is already
 * over is success with `alreadyOver`. */
export async function endCall(
  client: FunctionsClient,
  input: { callId: string; role: "caller" | "callee" },
  options?: RequestOptions,
): Promise<CallEndResult> {
  const beforeAccept = input.role === "caller" ? "cancel" : "reject";
  // Two rounds: the other side may accept (or hang up) while we do.
  for (let round = 0; round < 2; round++) {
    const ended = await act(client, input.callId, "end", options);
    if (ended.ok || ended.error.code !== "INVALID_TRANSITION") return ended;
    const early = await act(client, input.callId, beforeAccept, options);
    if (early.ok || early.error.code !== "INVALID_TRANSITION") return early;
  }
  return act(client, input.callId, "end", options);
}

async function act(
  client: FunctionsClient,
  callId: string,
  action: "reject" | "cancel" | "end",
  options: RequestOptions | undefined,
): Promise<CallEndResult> {
  const result = await client.callAction({ callId, action }, options);
  if (result.ok) {
    return { ok: true, status: result.data.call.status, call: result.data.call, alreadyOver: !result.data.changed };
  }
  const { error } = result;
  const status = error.context.status ?? "";
  if (error.code === "INVALID_TRANSITION" && isTerminal(status)) {
    return { ok: true, status: status as CallStatus, call: error.context.call ?? null, alreadyOver: true };
  }
  if (error.code === "CALL_EXPIRED") {
    return { ok: true, status: "missed", call: error.context.call ?? null, alreadyOver: true };
  }
  const reason = error.code === "CALL_NOT_FOUND" ? "not_found" : error.code === "FORBIDDEN" ? "forbidden" : "error";
  return { ok: false, reason, error };
}

function connectionOf(data: { token: string; wsUrl: string; roomName: string; identity: string; expiresAt: string }) {
  return { token: data.token, wsUrl: data.wsUrl, roomName: data.roomName, identity: data.identity, expiresAt: data.expiresAt };
}
