// Registers a device's push tokens with /push-token-register, one call per
// kind: on iOS the Expo token and the PushKit VoIP token (a locked iPhone
// rings through CallKit only with a VoIP push, which Expo cannot send), on
// Android the Expo token and the FCM token (a full-screen call needs FCM's
// high-priority data message), on the web the Expo token and an FCM one if
// the app has it. The kit uses no native module: the app passes the tokens it
// got (expo-notifications' `getExpoPushTokenAsync`,
// react-native-voip-push-notification's `register` event,
// @react-native-firebase/messaging's `getToken`) and passes them again when
// one changes.
import type { PushKind, PushPlatform, PushTokenRegistration } from "./api.js";
import type { FunctionsClient, RequestOptions } from "./client.js";
import type { KitError } from "./errors.js";

/** The tokens a device has, by kind. A missing, null or blank token is skipped. */
export type PushTokens = { [K in PushKind]?: string | null | undefined };

/** Which kinds a platform registers. The server refuses the others (400
 * `INVALID_REQUEST`, `field: "kind"`), so the kit does not send them. */
export const PUSH_KINDS_BY_PLATFORM = {
  ios: ["expo", "apns_voip"],
  android: ["expo", "fcm"],
  web: ["expo", "fcm"],
} as const satisfies Record<PushPlatform, readonly PushKind[]>;

/** What became of one kind's token. */
export type PushKindOutcome =
  | { outcome: "registered"; updatedAt: string | null }
  /** The registrar sent this very token for the current user already. */
  | { outcome: "unchanged" }
  /** `no_token`: the app has none of this kind; `other_platform`: the kind is not this platform's. */
  | { outcome: "skipped"; reason: "no_token" | "other_platform" }
  | { outcome: "failed"; error: KitError };

export interface PushRegistrationReport {
  /** No kind failed (a skipped kind is not a failure). */
  ok: boolean;
  /** Every kind, each on its own: one kind failing does not stop the others. */
  kinds: Record<PushKind, PushKindOutcome>;
}

// Invariant: lists every kind (the `satisfies` fails to compile otherwise);
// reports follow this order.
const KIND_ORDER = { expo: 0, apns_voip: 1, fcm: 2 } as const satisfies Record<PushKind, number>;
const PUSH_KINDS = Object.keys(KIND_ORDER) as PushKind[];

/** Registers each of `tokens` that fits `platform`, all at once, and reports
 * every kind. Never throws; a failed kind carries the client's error (the
 * client has already retried what its policy allows: the route is safe to
 * send twice). */
export async function registerPushTokens(
  client: FunctionsClient,
  platform: PushPlatform,
  tokens: PushTokens,
  options?: RequestOptions,
): Promise<PushRegistrationReport> {
  const outcomes = await Promise.all(PUSH_KINDS.map((kind) => registerKind(client, platform, kind, tokens[kind], options)));
  const kinds = Object.fromEntries(PUSH_KINDS.map((kind, index) => [kind, outcomes[index]])) as Record<PushKind, PushKindOutcome>;
  return reportOf(kinds);
}

export interface PushTokenRegistrarOptions {
  platform: PushPlatform;
  /** Passed to every registration request (a signal, a language). */
  request?: RequestOptions;
}

/**
 * Keeps a device's tokens registered: the app feeds it each token as it
 * arrives or changes, and it sends only what the server has not had from it
 * (a new or changed token, or one whose registration failed), so calling
 * `update` on every launch, token event or return to the foreground is cheap.
 * Updates run one after another: two quick ones with the same token send it
 * once.
 */
export class PushTokenRegistrar {
  // Invariant: no blank token.
  private readonly tokens: Partial<Record<PushKind, string>> = {};
  /** The token each kind was last registered with, for the current user. */
  private registered: Partial<Record<PushKind, string>> = {};
  /** Bumped by `reset`, so that an answer to an earlier user's request does not count. */
  private generation = 0;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly client: FunctionsClient,
    private readonly options: PushTokenRegistrarOptions,
  ) {}

  /** Takes the tokens given (a kind left out or undefined keeps its token;
   * null or blank drops it) and registers each kind that needs it. `update()`
   * with nothing retries the kinds that failed. */
  update(tokens: PushTokens = {}): Promise<PushRegistrationReport> {
    for (const kind of PUSH_KINDS) {
      const token = tokens[kind];
      // A token that has not arrived yet is not a token that went away.
      if (token === undefined) continue;
      if (hasToken(token)) {
        this.tokens[kind] = token;
      } else {
        delete this.tokens[kind];
        delete this.registered[kind];
      }
    }
    const run = this.queue.then(() => this.registerPending());
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Forgets what was registered, so that the next `update` sends every token
   * again. Call it when another user signs in: a token belongs to the last
   * user who registered it. */
  reset(): void {
    this.registered = {};
    this.generation++;
  }

  private async registerPending(): Promise<PushRegistrationReport> {
    const generation = this.generation;
    const pending: PushTokens = {};
    const unchanged: PushKind[] = [];
    for (const kind of PUSH_KINDS) {
      const token = this.tokens[kind];
      if (token !== undefined && token === this.registered[kind]) unchanged.push(kind);
      else pending[kind] = token;
    }
    const sent = await registerPushTokens(this.client, this.options.platform, pending, this.options.request);
    const kinds = { ...sent.kinds };
    for (const kind of PUSH_KINDS) {
      const token = pending[kind];
      if (unchanged.includes(kind)) kinds[kind] = { outcome: "unchanged" };
      else if (kinds[kind].outcome === "registered" && generation === this.generation && typeof token === "string") {
        this.registered[kind] = token;
      }
    }
    return reportOf(kinds);
  }
}

async function registerKind(
  client: FunctionsClient,
  platform: PushPlatform,
  kind: PushKind,
  token: string | null | undefined,
  options: RequestOptions | undefined,
): Promise<PushKindOutcome> {
  if (!(PUSH_KINDS_BY_PLATFORM[platform] as readonly PushKind[]).includes(kind)) return { outcome: "skipped", reason: "other_platform" };
  if (!hasToken(token)) return { outcome: "skipped", reason: "no_token" };
  // Expo is the default kind. A body without `kind` is also what a server
  // from before APNs and FCM takes: it refuses fields it does not know.
  const body: PushTokenRegistration = kind === "expo" ? { token, platform } : { token, platform, kind };
  const result = await client.pushTokenRegister(body, options);
  if (!result.ok) return { outcome: "failed", error: result.error };
  return { outcome: "registered", updatedAt: result.data.token.updatedAt ?? null };
}

function reportOf(kinds: Record<PushKind, PushKindOutcome>): PushRegistrationReport {
  return { ok: Object.values(kinds).every((kind) => kind.outcome !== "failed"), kinds };
}

function hasToken(token: string | null | undefined): token is string {
  return typeof token === "string" && token.trim() !== "";
}
