// A scripted fetch: answers from a queue and records what was asked.
import type { FetchLike, ResponseLike } from "../../src/client.js";

export type Reply =
  | { status: number; body?: unknown; headers?: Record<string, string> }
  /** fetch rejects with a TypeError, as it does when the network fails. */
  | "network"
  /** Never answers; rejects with an AbortError when the request's signal aborts. */
  | "hang";

export interface RecordedRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  /** The JSON body, parsed; undefined when none was sent. */
  body: unknown;
  rawBody: string | undefined;
  signal: AbortSignal;
}

export class FakeFetch {
  readonly requests: RecordedRequest[] = [];
  private readonly replies: Reply[] = [];

  constructor(...replies: Reply[]) {
    this.replies.push(...replies);
  }

  /** Adds replies to the end of the queue. */
  reply(...replies: Reply[]): this {
    this.replies.push(...replies);
    return this;
  }

  /** Replies left unused. */
  get remaining(): number {
    return this.replies.length;
  }

  readonly fetch: FetchLike = (url, init) => {
    this.requests.push({
      url,
      method: init.method,
      headers: { ...init.headers },
      body: init.body === undefined ? undefined : JSON.parse(init.body),
      rawBody: init.body,
      signal: init.signal,
    });
    const reply = this.replies.shift();
    if (reply === undefined) {
      return Promise.reject(new Error(`FakeFetch: no scripted reply for request #${this.requests.length} ${init.method} ${url}`));
    }
    if (reply === "network") return Promise.reject(new TypeError("fetch failed"));
    if (reply === "hang") {
      return new Promise<ResponseLike>((_, reject) => {
        const abort = () => reject(new DOMException("This operation was aborted", "AbortError"));
        if (init.signal.aborted) abort();
        else init.signal.addEventListener("abort", abort, { once: true });
      });
    }
    const text = reply.body === undefined ? "" : typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body);
    const headers = new Map(Object.entries(reply.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]));
    const response: ResponseLike = {
      status: reply.status,
      headers: { get: (name) => headers.get(name.toLowerCase()) ?? null },
      text: () => Promise.resolve(text),
    };
    return Promise.resolve(response);
  };
}

/** The server's error answer (see ErrorBody in openapi.yaml). */
export function errorReply(
  status: number,
  errorCode: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Reply {
  return {
    status,
    body: { success: false, errorCode, error: `server text for ${errorCode}`, retryable: false, ...extra },
    headers,
  };
}

export function okReply(body: Record<string, unknown> = {}, status = 200, headers: Record<string, string> = {}): Reply {
  return { status, body: { success: true, ...body }, headers };
}
