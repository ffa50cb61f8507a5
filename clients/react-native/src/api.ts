// The service's contract as TypeScript types, derived from the types that
// `npm run generate` writes from openapi.yaml: a change to the contract that
// the kit does not follow fails to compile (or fails the drift test).
import type { components, operations, paths } from "./generated/openapi.js";

type Schemas = components["schemas"];

export type ServerErrorCode = Schemas["ErrorCode"];
export type ErrorBody = Schemas["ErrorBody"];
export type Call = Schemas["Call"];
export type CallStatus = Call["status"];
export type CallType = Call["callType"];
export type Session = Schemas["Session"];
export type SessionStatus = Schemas["SessionStatus"];
export type SessionType = NonNullable<Session["type"]>;
export type TokenAnswer = Schemas["TokenAnswer"];
export type Health = Schemas["Health"];
export type PushTokenRegistration = RequestBody<"pushTokenRegister">;
export type PushPlatform = PushTokenRegistration["platform"];
/** The provider a device token is for: Expo, Apple's VoIP pushes (PushKit), FCM. */
export type PushKind = NonNullable<PushTokenRegistration["kind"]>;
export type PushTokenUnregistration = RequestBody<"pushTokenUnregister">;

/** The operations the app calls. The others are for LiveKit (the webhook),
 * the scheduler (the sweep), tooling (the document itself) and probes (HEAD). */
export type AppOperation = Exclude<
  keyof operations,
  "openapi" | "openapiHead" | "healthHead" | "livekitWebhook" | "cleanupOrphans"
>;

type JsonContent<R> = R extends { content: { "application/json": infer Body } } ? Body : never;

/** The JSON body an operation takes (`never` for a GET). */
export type RequestBody<K extends AppOperation> = operations[K] extends {
  requestBody: { content: { "application/json": infer Body } };
}
  ? Body
  : never;

/** The query parameters an operation takes (`never` when none). */
export type QueryOf<K extends AppOperation> = operations[K]["parameters"] extends { query: infer Query }
  ? Query
  : never;

/** The body of an operation's success answer (200 or 201). */
export type SuccessBody<K extends AppOperation> = JsonContent<
  operations[K]["responses"][Extract<keyof operations[K]["responses"], 200 | 201>]
>;

/** What an operation takes: a JSON body, query parameters, or nothing. */
export type InputOf<K extends AppOperation> = [RequestBody<K>] extends [never]
  ? [QueryOf<K>] extends [never]
    ? "none"
    : "query"
  : "body";

export type HttpMethod = "GET" | "POST";

export interface Route {
  readonly method: HttpMethod;
  readonly path: keyof paths;
  readonly input: "body" | "query" | "none";
  /** Safe to send again when the first answer was lost (retried on
   * INTERNAL_ERROR, TIMEOUT and NETWORK_ERROR). */
  readonly idempotent: boolean;
  readonly authenticated: boolean;
  /** Sends a fresh `Idempotency-Key` per call of the method, the same on
   * its resends: the server answers a resend with the first one's result. */
  readonly idempotencyKey?: true;
}

/** Where each operation lives. call-action is idempotent by design (a repeat
 * answers `changed: false`); call-initiate and live-session-start are not (a
 * resend after a lost answer or a TIMEOUT would meet the first call or
 * session). call-initiate carries an `Idempotency-Key`, so its one resend
 * after a 503 answers the first call instead of ringing twice. */
export const ROUTES = {
  health: { method: "GET", path: "/health", input: "none", idempotent: true, authenticated: false },
  getLivekitToken: { method: "POST", path: "/get-livekit-token", input: "body", idempotent: true, authenticated: true },
  liveSessionStart: { method: "POST", path: "/live-session-start", input: "body", idempotent: false, authenticated: true },
  liveSessionEnd: { method: "POST", path: "/live-session-end", input: "body", idempotent: true, authenticated: true },
  liveSessionStatus: { method: "GET", path: "/live-session-status", input: "query", idempotent: true, authenticated: true },
  callInitiate: { method: "POST", path: "/call-initiate", input: "body", idempotent: false, authenticated: true, idempotencyKey: true },
  callAction: { method: "POST", path: "/call-action", input: "body", idempotent: true, authenticated: true },
  pushTokenRegister: { method: "POST", path: "/push-token-register", input: "body", idempotent: true, authenticated: true },
  pushTokenUnregister: { method: "POST", path: "/push-token-unregister", input: "body", idempotent: true, authenticated: true },
} as const satisfies Record<AppOperation, Route>;

// Compile-time check: each route's path and method lead to its operation in
// the generated `paths`, and it takes what the operation takes. A mismatch
// names the operation in the error.
type RouteMatches<K extends AppOperation> = (typeof ROUTES)[K] extends {
  method: infer M extends HttpMethod;
  path: infer P extends keyof paths;
  input: InputOf<K>;
}
  ? Lowercase<M> extends keyof paths[P]
    ? paths[P][Lowercase<M>] extends operations[K]
      ? true
      : false
    : false
  : false;
type MismatchedRoute = { [K in AppOperation]: RouteMatches<K> extends true ? never : K }[AppOperation];
export const routesMatchTheContract: [MismatchedRoute] extends [never] ? true : MismatchedRoute = true;
