// The typed client of the functions: one method per app-facing route, every
// failure a value (`{ ok: false, error }`), never a throw.
import { ROUTES } from "./api.js";
import type { AppOperation, HttpMethod, InputOf, QueryOf, RequestBody, SuccessBody } from "./api.js";
import { systemClock } from "./clock.js";
import type { Clock } from "./clock.js";
import { clientError, errorFromAnswer, isRecord } from "./errors.js";
import type { ErrorCode, KitError, Result } from "./errors.js";
import { currentLanguage } from "./language.js";
import type { Language, LanguageSource } from "./language.js";
import { DEFAULT_RETRY, recordRetry, retryDelayMs } from "./retry.js";
import type { RetryHistory, RetryOptions } from "./retry.js";

/** The app's auth session: the current access token (Supabase's, say), or a
 * refreshed one when `forceRefresh` (the server answered UNAUTHORIZED). */
export type AccessTokenProvider = (request: {
  forceRefresh: boolean;
}) => string | null | undefined | Promise<string | null | undefined>;

/** What the kit needs of `fetch` (React Native's, the browser's, Node's). */
export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string; signal: AbortSignal },
) => Promise<ResponseLike>;

export interface ResponseLike {
  status: number;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}

export interface FunctionsClientOptions {
  /** Where the functions are served, e.g. `https://api.example.com`. */
  baseUrl: string;
  getAccessToken: AccessTokenProvider;
  fetch?: FetchLike;
  /** Per attempt; a timeout is a NETWORK_ERROR. The seed's default: 15 s. */
  timeoutMs?: number;
  /** The language of error messages (`Accept-Language`); Turkish by default. */
  language?: LanguageSource;
  /** The retry policy's knobs, or `false` for none. */
  retry?: Partial<RetryOptions> | false;
  clock?: Clock;
  /** [0, 1), for the backoff's jitter. */
  random?: () => number;
  /** Called after every attempt (for logs and breadcrumbs). */
  onAttempt?: (report: AttemptReport) => void;
}

export interface RequestOptions {
  /** `false` sends once whatever the answer, except that an UNAUTHORIZED is
   * still tried once more with a refreshed access token. */
  retry?: boolean;
  signal?: AbortSignal;
  timeoutMs?: number;
  language?: Language;
}

export interface AttemptReport {
  operation: string;
  attempt: number;
  requestId: string;
  httpStatus: number | null;
  /** null when the attempt succeeded. */
  code: ErrorCode | null;
  durationMs: number;
  /** The wait before the next attempt, or null when this was the last. */
  retryInMs: number | null;
}

type Method<K extends AppOperation> = {
  none: (options?: RequestOptions) => Promise<Result<SuccessBody<K>>>;
  query: (query: QueryOf<K>, options?: RequestOptions) => Promise<Result<SuccessBody<K>>>;
  body: (body: RequestBody<K>, options?: RequestOptions) => Promise<Result<SuccessBody<K>>>;
}[InputOf<K>];

export type FunctionsClient = { [K in AppOperation]: Method<K> } & {
  /** Any route, untyped: for routes newer than this kit. */
  request<T = unknown>(method: HttpMethod, path: string, init?: RawRequest): Promise<Result<T>>;
  /** The language errors are asked in now. */
  language(): Language;
};

export interface RawRequest extends RequestOptions {
  body?: unknown;
  query?: Record<string, string>;
  authenticated?: boolean;
  idempotent?: boolean;
}

/** One attempt's outcome and the HTTP status it got (null: no answer). */
interface Attempt<T> {
  result: Result<T>;
  httpStatus: number | null;
}

interface Send {
  operation: string;
  method: HttpMethod;
  path: string;
  body: unknown;
  query: Record<string, string> | undefined;
  authenticated: boolean;
  idempotent: boolean;
  /** Whether to send an `Idempotency-Key`, one per `send`. */
  idempotencyKey: boolean;
  options: RequestOptions;
}

export function createFunctionsClient(options: FunctionsClientOptions): FunctionsClient {
  const transport = new Transport(options);
  const typed = (operation: AppOperation) => {
    const route = ROUTES[operation];
    return (input?: unknown, requestOptions?: RequestOptions) => {
      // An operation that takes nothing takes only the options.
      const [payload, callOptions] = route.input === "none" ? [undefined, input as RequestOptions | undefined] : [input, requestOptions];
      return transport.send({
        operation,
        method: route.method,
        path: route.path,
        body: route.input === "body" ? payload : undefined,
        query: route.input === "query" ? (payload as Record<string, string>) : undefined,
        authenticated: route.authenticated,
        idempotent: route.idempotent,
        idempotencyKey: "idempotencyKey" in route && route.idempotencyKey === true,
        options: callOptions ?? {},
      });
    };
  };
  const client = {
    language: () => currentLanguage(options.language),
    request: (method: HttpMethod, path: string, init: RawRequest = {}) =>
      transport.send({
        operation: `${method} ${path}`,
        method,
        path,
        body: init.body,
        query: init.query,
        authenticated: init.authenticated ?? true,
        idempotent: init.idempotent ?? method === "GET",
        idempotencyKey: false,
        options: init,
      }),
  } as Record<string, unknown>;
  for (const operation of Object.keys(ROUTES) as AppOperation[]) {
    client[operation] = typed(operation);
  }
  return client as FunctionsClient;
}

class Transport {
  private readonly baseUrl: string;
  private readonly fetch: FetchLike;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly retry: RetryOptions | null;

  constructor(private readonly options: FunctionsClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.fetch = options.fetch ?? ((url, init) => globalThis.fetch(url, init));
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.retry = options.retry === false ? null : { ...DEFAULT_RETRY, ...options.retry };
  }

  async send<T>(request: Send): Promise<Result<T>> {
    const language = request.options.language ?? currentLanguage(this.options.language);
    const history: RetryHistory = { backoffRetries: 0, waitRetries: 0 };
    // After an UNAUTHORIZED, the next attempt asks for a refreshed token (once).
    let forceRefresh = false;
    let refreshed = false;
    // One key for every attempt of this request: a resend is the same call.
    const idempotencyKey = request.idempotencyKey ? newRequestId() : null;
    for (let attempt = 1; ; attempt++) {
      if (request.options.signal?.aborted) {
        return failure(clientError("ABORTED", language, { httpStatus: null, requestId: null, attempts: attempt - 1 }));
      }
      const token: string | null = request.authenticated ? await this.accessToken(forceRefresh) : null;
      if (request.authenticated && token === null) {
        return failure(clientError("UNAUTHORIZED", language, { httpStatus: null, requestId: null, attempts: attempt - 1 }));
      }
      const started = this.clock.now();
      const requestId = newRequestId();
      const { result: outcome, httpStatus }: Attempt<T> = await this.attempt<T>(request, token, requestId, idempotencyKey, language, attempt);
      let retryInMs: number | null = null;
      if (!outcome.ok) {
        if (outcome.error.code === "UNAUTHORIZED" && request.authenticated && !refreshed) {
          // One retry with a fresh token: an access token may expire between reads.
          refreshed = true;
          retryInMs = 0;
        } else if (this.retry !== null && request.options.retry !== false) {
          retryInMs = retryDelayMs(outcome.error, history, request.idempotent, this.retry, this.random);
          if (retryInMs !== null) recordRetry(history, outcome.error);
        }
      }
      this.options.onAttempt?.({
        operation: request.operation,
        attempt,
        requestId,
        httpStatus,
        code: outcome.ok ? null : outcome.error.code,
        durationMs: this.clock.now() - started,
        retryInMs,
      });
      if (outcome.ok || retryInMs === null) return outcome;
      if (retryInMs > 0) await this.clock.sleep(retryInMs, request.options.signal);
      forceRefresh = outcome.error.code === "UNAUTHORIZED";
    }
  }

  private async accessToken(forceRefresh: boolean): Promise<string | null> {
    try {
      const token = await this.options.getAccessToken({ forceRefresh });
      return typeof token === "string" && token !== "" ? token : null;
    } catch {
      return null;
    }
  }

  /** One request with its timeout, and the HTTP status it got. Never throws. */
  private async attempt<T>(
    request: Send,
    token: string | null,
    requestId: string,
    idempotencyKey: string | null,
    language: Language,
    attempt: number,
  ): Promise<Attempt<T>> {
    const origin = { requestId, attempts: attempt };
    const external = request.options.signal;
    if (external?.aborted) return { result: failure(clientError("ABORTED", language, { ...origin, httpStatus: null })), httpStatus: null };
    const controller = new AbortController();
    const timer = new AbortController();
    let timedOut = false;
    const onAbort = () => controller.abort();
    external?.addEventListener("abort", onAbort, { once: true });
    void this.clock.sleep(request.options.timeoutMs ?? this.options.timeoutMs ?? 15_000, timer.signal).then(() => {
      if (!timer.signal.aborted) {
        timedOut = true;
        controller.abort();
      }
    });
    try {
      const headers: Record<string, string> = {
        accept: "application/json",
        "accept-language": language,
        "x-request-id": requestId,
      };
      if (token !== null) headers["authorization"] = `Bearer ${token}`;
      if (idempotencyKey !== null) headers["idempotency-key"] = idempotencyKey;
      const init: Parameters<FetchLike>[1] = { method: request.method, headers, signal: controller.signal };
      if (request.body !== undefined) {
        headers["content-type"] = "application/json";
        init.body = JSON.stringify(request.body);
      }
      const response = await this.fetch(this.baseUrl + request.path + queryString(request.query), init);
      const text = await response.text();
      const answerId = response.headers.get("x-request-id") ?? requestId;
      const body = parseJson(text);
      const status = response.status;
      const answered = { httpStatus: status, requestId: answerId, attempts: attempt };
      const refused = isRecord(body) && body["success"] === false;
      if (status >= 200 && status < 300 && !refused) {
        const result: Result<T> = isRecord(body)
          ? { ok: true, data: body as T, requestId: answerId }
          : failure(clientError("UNEXPECTED_RESPONSE", language, answered));
        return { result, httpStatus: status };
      }
      return { result: failure(errorFromAnswer(body, response.headers.get("retry-after"), language, answered)), httpStatus: status };
    } catch {
      const code = timedOut || !external?.aborted ? "NETWORK_ERROR" : "ABORTED";
      return { result: failure(clientError(code, language, { ...origin, httpStatus: null })), httpStatus: null };
    } finally {
      timer.abort();
      external?.removeEventListener("abort", onAbort);
    }
  }
}

function failure(error: KitError): { ok: false; error: KitError } {
  return { ok: false, error };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function queryString(query: Record<string, string> | undefined): string {
  if (query === undefined) return "";
  const pairs = Object.entries(query).map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`);
  return pairs.length === 0 ? "" : `?${pairs.join("&")}`;
}

/** A random UUID, per attempt for `x-request-id` and per request for
 * `Idempotency-Key` (`crypto.randomUUID` where the platform has it). */
function newRequestId(): string {
  const crypto = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (typeof crypto?.randomUUID === "function") return crypto.randomUUID();
  const hex = () => Math.floor(Math.random() * 0x10000).toString(16).padStart(4, "0");
  return `${hex()}${hex()}-${hex()}-4${hex().slice(1)}-${hex()}-${hex()}${hex()}${hex()}`;
}
