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
//
// The server may drop a token (a provider called it dead, or the user's 21st
// device evicted it), and a device without one never rings. So the registrar
// registers every token again on each start (a new registrar knows nothing
// yet) and re-confirms a token once its last confirmation is older than
// `confirmAfterMs`: registering is idempotent and costs one statement, and the
// answer's `created: true` is the server saying it did not know the device,
// reported as `restored`. On sign-out, `signOut` unregisters the tokens so the
// phone stops ringing for the user who left.
import type { PushKind, PushPlatform, PushTokenRegistration } from "./api.js";
import type { FunctionsClient, RequestOptions } from "./client.js";
import { systemClock } from "./clock.js";
import type { Clock } from "./clock.js";
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
  /** Re-confirmed, and the server answered that it did not have it (`created`):
   * it had dropped the device, which is registered again now. */
  | { outcome: "restored"; updatedAt: string | null }
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
  const sent = await registerEach(client, platform, tokens, options);
  const kinds = Object.fromEntries(PUSH_KINDS.map((kind) => [kind, sent[kind].outcome])) as Record<PushKind, PushKindOutcome>;
  return reportOf(kinds);
}

/** One kind's outcome, and whether the server said it did not know the token. */
interface KindSent {
  outcome: PushKindOutcome;
  created: boolean;
}

async function registerEach(
  client: FunctionsClient,
  platform: PushPlatform,
  tokens: PushTokens,
  options: RequestOptions | undefined,
): Promise<Record<PushKind, KindSent>> {
  const sent = await Promise.all(PUSH_KINDS.map((kind) => registerKind(client, platform, kind, tokens[kind], options)));
  return Object.fromEntries(PUSH_KINDS.map((kind, index) => [kind, sent[index]])) as Record<PushKind, KindSent>;
}

export interface PushTokenRegistrarOptions {
  platform: PushPlatform;
  /** Passed to every registration request (a signal, a language). */
  request?: RequestOptions;
  /** How long a registration counts as confirmed: an `update` after that
   * sends the token again, so a device the server dropped comes back.
   * Default 6 hours. */
  confirmAfterMs?: number;
  clock?: Clock;
}

/** The default of `confirmAfterMs`. */
export const PUSH_TOKEN_CONFIRM_AFTER_MS = 6 * 60 * 60 * 1000;

/** What became of one kind's token on sign-out. */
export type PushKindSignOut =
  | { outcome: "unregistered" }
  | { outcome: "skipped"; reason: "no_token" }
  | { outcome: "failed"; error: KitError };

export interface PushSignOutReport {
  /** No kind failed. */
  ok: boolean;
  kinds: Record<PushKind, PushKindSignOut>;
}

/**
 * Keeps a device's tokens registered: the app feeds it each token as it
 * arrives or changes, and it sends only what the server has not had from it
 * (a new or changed token, one whose registration failed, or one not
 * confirmed for `confirmAfterMs`), so calling `update` on every launch, token
 * event or return to the foreground is cheap. Updates run one after another:
 * two quick ones with the same token send it once.
 */
export class PushTokenRegistrar {
  // Invariant: no blank token.
  private readonly tokens: Partial<Record<PushKind, string>> = {};
  /** The token each kind was last registered with, for the current user. */
  private registered: Partial<Record<PushKind, string>> = {};
  /** When each kind's registration was last confirmed by the server. */
  private confirmedAt: Partial<Record<PushKind, number>> = {};
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
    this.confirmedAt = {};
    this.generation++;
  }

  /** Sign-out: removes this device's tokens from the signed-in user (call it
   * while their session still authenticates requests), then forgets what was
   * registered, so the next user's `update` sends every token again. Runs
   * after the updates under way. Never throws; a failed kind is reported (the
   * server also moves a token to whoever registers it next). */
  signOut(): Promise<PushSignOutReport> {
    const run = this.queue.then(() => this.unregisterAll());
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async unregisterAll(): Promise<PushSignOutReport> {
    const outcomes = await Promise.all(
      PUSH_KINDS.map(async (kind): Promise<PushKindSignOut> => {
        const token = this.tokens[kind];
        if (token === undefined) return { outcome: "skipped", reason: "no_token" };
        const result = await this.client.pushTokenUnregister({ token }, this.options.request);
        return result.ok ? { outcome: "unregistered" } : { outcome: "failed", error: result.error };
      }),
    );
    this.reset();
    const kinds = Object.fromEntries(PUSH_KINDS.map((kind, index) => [kind, outcomes[index]])) as Record<PushKind, PushKindSignOut>;
    return { ok: outcomes.every((outcome) => outcome.outcome !== "failed"), kinds };
  }

  private async registerPending(): Promise<PushRegistrationReport> {
    const generation = this.generation;
    const clock = this.options.clock ?? systemClock;
    const confirmAfterMs = this.options.confirmAfterMs ?? PUSH_TOKEN_CONFIRM_AFTER_MS;
    const pending: PushTokens = {};
    const unchanged: PushKind[] = [];
    const reconfirming: PushKind[] = [];
    for (const kind of PUSH_KINDS) {
      const token = this.tokens[kind];
      const confirmedAt = this.confirmedAt[kind];
      if (token !== undefined && token === this.registered[kind]) {
        if (confirmedAt !== undefined && clock.now() - confirmedAt < confirmAfterMs) {
          unchanged.push(kind);
          continue;
        }
        reconfirming.push(kind);
      }
      pending[kind] = token;
    }
    const sent = await registerEach(this.client, this.options.platform, pending, this.options.request);
    const kinds = Object.fromEntries(PUSH_KINDS.map((kind) => [kind, sent[kind].outcome])) as Record<PushKind, PushKindOutcome>;
    for (const kind of PUSH_KINDS) {
      const token = pending[kind];
      const outcome = kinds[kind];
      if (unchanged.includes(kind)) kinds[kind] = { outcome: "unchanged" };
      else if (outcome.outcome === "registered" && generation === this.generation && typeof token === "string") {
        this.registered[kind] = token;
        this.confirmedAt[kind] = clock.now();
        if (reconfirming.includes(kind) && sent[kind].created) kinds[kind] = { outcome: "restored", updatedAt: outcome.updatedAt };
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
): Promise<KindSent> {
  const skipped = (reason: "other_platform" | "no_token"): KindSent => ({ outcome: { outcome: "skipped", reason }, created: false });
  if (!(PUSH_KINDS_BY_PLATFORM[platform] as readonly PushKind[]).includes(kind)) return skipped("other_platform");
  if (!hasToken(token)) return skipped("no_token");
  // Expo is the default kind. A body without `kind` is also what a server
  // from before APNs and FCM takes: it refuses fields it does not know.
  const body: PushTokenRegistration = kind === "expo" ? { token, platform } : { token, platform, kind };
  const result = await client.pushTokenRegister(body, options);
  if (!result.ok) return { outcome: { outcome: "failed", error: result.error }, created: false };
  return { outcome: { outcome: "registered", updatedAt: result.data.token.updatedAt ?? null }, created: result.data.token.created === true };
}

function reportOf(kinds: Record<PushKind, PushKindOutcome>): PushRegistrationReport {
  return { ok: Object.values(kinds).every((kind) => kind.outcome !== "failed"), kinds };
}

function hasToken(token: string | null | undefined): token is string {
  return typeof token === "string" && token.trim() !== "";
}
