// Every failure the kit reports: the server's error contract, typed, plus the
// kit's own codes for answers that never arrived or were not the contract.
import type { Call, ErrorBody, ServerErrorCode } from "./api.js";
import type { Language } from "./language.js";
import { message } from "./messages.js";
import type { MessageKey } from "./messages.js";

/** Raised by the kit: the function could not be reached (or timed out), the
 * caller cancelled, or the answer was not the service's contract. */
export type ClientErrorCode = "NETWORK_ERROR" | "ABORTED" | "UNEXPECTED_RESPONSE";

export type ErrorCode = ServerErrorCode | ClientErrorCode;

/** The codes the service answers with a `Retry-After` (see openapi.yaml). */
export const RETRY_AFTER_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(["RATE_LIMITED", "SERVICE_UNAVAILABLE"]);

/** Every code the server may send (checked against the contract below). */
export const SERVER_ERROR_CODES = [
  "UNAUTHORIZED",
  "SESSION_NOT_FOUND",
  "SUBSCRIPTION_REQUIRED",
  "PAYMENT_REQUIRED",
  "RATE_LIMITED",
  "INTERNAL_ERROR",
  "INVALID_REQUEST",
  "CALL_NOT_FOUND",
  "FORBIDDEN",
  "SESSION_ENDED",
  "CALL_ENDED",
  "CALL_NOT_ACTIVE",
  "ALREADY_LIVE",
  "METHOD_NOT_ALLOWED",
  "SERVICE_UNAVAILABLE",
  "BUSY",
  "INVALID_TRANSITION",
  "CALL_EXPIRED",
  "PUSH_FAILED",
  "USER_NOT_FOUND",
  "CANNOT_CALL_SELF",
  "CALLEE_UNREACHABLE",
  "INVALID_SIGNATURE",
  "NOT_FOUND",
  "PAYLOAD_TOO_LARGE",
  "TIMEOUT",
] as const satisfies readonly ServerErrorCode[];

type MissingCode = Exclude<ServerErrorCode, (typeof SERVER_ERROR_CODES)[number]>;
export const everyServerCodeIsListed: [MissingCode] extends [never] ? true : MissingCode = true;

/** The context fields some errors carry (see ErrorBody in openapi.yaml). */
export type ErrorContext = Partial<Pick<ErrorBody, "status" | "priceCoins" | "sessionId" | "field" | "details" | "call">>;

export interface KitError {
  code: ErrorCode;
  /** For the user, in the requested language. */
  message: string;
  /** Whether trying again later may succeed (the kit already retried what its policy allows). */
  retryable: boolean;
  /** How long to wait before trying again, when the server said. */
  retryAfterSeconds: number | null;
  /** The HTTP status; null when no answer arrived. */
  httpStatus: number | null;
  /** The `x-request-id` of the last attempt, to quote in bug reports and logs. */
  requestId: string | null;
  /** How many requests were sent. */
  attempts: number;
  context: ErrorContext;
}

export type Result<T> = { ok: true; data: T; requestId: string | null } | { ok: false; error: KitError };

const KNOWN = new Set<string>(SERVER_ERROR_CODES);

export function isServerErrorCode(code: unknown): code is ServerErrorCode {
  return typeof code === "string" && KNOWN.has(code);
}

interface Origin {
  httpStatus: number | null;
  requestId: string | null;
  attempts: number;
}

/** An error the kit raises itself (UNAUTHORIZED: the app has no access token). */
export function clientError(code: ClientErrorCode | "UNAUTHORIZED", language: Language, origin: Origin): KitError {
  return {
    code,
    message: fallbackMessage(code, language),
    retryable: code === "NETWORK_ERROR" || code === "UNEXPECTED_RESPONSE",
    retryAfterSeconds: null,
    ...origin,
    context: {},
  };
}

/** The error an answer with a non-2xx status (or `success: false`) means. */
export function errorFromAnswer(
  body: unknown,
  retryAfterHeader: string | null,
  language: Language,
  origin: Origin & { httpStatus: number },
): KitError {
  const headerSeconds = parseSeconds(retryAfterHeader);
  const refusal = isRecord(body) && body["success"] === false ? body : {};
  const serverCode = refusal["errorCode"];
  // Without a code this kit knows (a proxy's or a gateway's page, or a code
  // newer than the kit) the status decides; a newer code's text and advice,
  // in the user's language, still apply.
  const known = isServerErrorCode(serverCode);
  const code = known ? serverCode : codeForBareStatus(origin.httpStatus);
  const bodySeconds = typeof refusal["retryAfterSeconds"] === "number" ? refusal["retryAfterSeconds"] : null;
  const defaultRetryable = origin.httpStatus >= 500 || code === "RATE_LIMITED";
  return {
    code,
    message: typeof refusal["error"] === "string" && refusal["error"] !== "" ? refusal["error"] : fallbackMessage(code, language),
    retryable: typeof refusal["retryable"] === "boolean" ? refusal["retryable"] : defaultRetryable,
    retryAfterSeconds: known
      ? bodySeconds ?? headerSeconds
      : headerSeconds ?? (RETRY_AFTER_CODES.has(code) ? 5 : null),
    ...origin,
    context: known ? contextOf(refusal) : {},
  };
}

// The service's own codes for what a gateway (or Spin itself: an empty 404
// for an unrouted path) answers with a bare status. A gateway's 504 is a
// TIMEOUT: its request, too, may or may not have run.
function codeForBareStatus(status: number): ErrorCode {
  if (status === 401) return "UNAUTHORIZED";
  if (status === 404) return "NOT_FOUND";
  if (status === 413) return "PAYLOAD_TOO_LARGE";
  if (status === 429) return "RATE_LIMITED";
  if (status === 504) return "TIMEOUT";
  if (status === 502 || status === 503) return "SERVICE_UNAVAILABLE";
  if (status >= 500) return "INTERNAL_ERROR";
  return "UNEXPECTED_RESPONSE";
}

/** The kit's own text for a code, when the server's cannot be had. */
const FALLBACK_MESSAGES: Partial<Record<ErrorCode, MessageKey>> = {
  UNAUTHORIZED: "unauthorized",
  NOT_FOUND: "notFound",
  PAYLOAD_TOO_LARGE: "payloadTooLarge",
  RATE_LIMITED: "rateLimited",
  SERVICE_UNAVAILABLE: "serviceUnavailable",
  TIMEOUT: "timeout",
  NETWORK_ERROR: "networkError",
  ABORTED: "aborted",
  UNEXPECTED_RESPONSE: "unexpectedResponse",
};

function fallbackMessage(code: ErrorCode, language: Language): string {
  return message(FALLBACK_MESSAGES[code] ?? "internalError", language);
}

function contextOf(body: Record<string, unknown>): ErrorContext {
  const context: ErrorContext = {};
  for (const key of ["status", "sessionId", "field", "details"] as const) {
    const value = body[key];
    if (typeof value === "string") context[key] = value;
  }
  if (typeof body["priceCoins"] === "number") context.priceCoins = body["priceCoins"];
  // The server's own rendering of a call row (see Call in openapi.yaml).
  if (isRecord(body["call"]) && typeof body["call"]["id"] === "string") context.call = body["call"] as unknown as Call;
  return context;
}

function parseSeconds(header: string | null): number | null {
  if (header === null || !/^\d+$/.test(header.trim())) return null;
  return Number(header.trim());
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
