// A viewer's watch on a broadcast: polls /live-session-status and turns it
// into what the screen shows: the broadcast, the "Yayıncı bağlantısı koptu /
// Yeniden bağlanması bekleniyor..." overlay while the host is away, or the end.
import type { SessionStatus } from "./api.js";
import type { FunctionsClient } from "./client.js";
import { systemClock } from "./clock.js";
import type { Clock } from "./clock.js";
import type { KitError } from "./errors.js";
import { currentLanguage } from "./language.js";
import type { Language, LanguageSource } from "./language.js";
import { message } from "./messages.js";

export interface SessionView {
  /** null until the first answer. */
  status: SessionStatus | null;
  /** Shown over the video while the host is away. */
  overlay: { title: string; subtitle: string } | null;
  /** The broadcast is over: leave the room. Polling has stopped. */
  ended: boolean;
  endedText: string | null;
  endReason: string | null;
  /** When the host must be back by (host_disconnected, paused). */
  graceEndsAt: string | null;
  /** The last poll's error; the view keeps the last known status meanwhile. */
  error: KitError | null;
}

export interface WatchSessionOptions {
  onChange: (view: SessionView) => void;
  /** Between polls while the broadcast runs. Default 5 s. */
  intervalMs?: number;
  /** Between polls while the host is away: the end comes within the grace. Default 2 s. */
  awayIntervalMs?: number;
  language?: LanguageSource;
  clock?: Clock;
}

export interface SessionWatch {
  stop(): void;
  readonly view: SessionView;
}

/** Errors after which polling cannot help. */
const FINAL_ERRORS = new Set(["SESSION_NOT_FOUND", "SESSION_ENDED", "UNAUTHORIZED", "FORBIDDEN", "INVALID_REQUEST"]);

export function watchSession(client: FunctionsClient, sessionId: string, options: WatchSessionOptions): SessionWatch {
  const clock = options.clock ?? systemClock;
  const stopper = new AbortController();
  let view: SessionView = {
    status: null,
    overlay: null,
    ended: false,
    endedText: null,
    endReason: null,
    graceEndsAt: null,
    error: null,
  };
  const publish = (next: SessionView) => {
    if (stopper.signal.aborted || sameView(view, next)) return;
    view = next;
    options.onChange(view);
  };

  const loop = async () => {
    while (!stopper.signal.aborted) {
      const language = currentLanguage(options.language ?? client.language);
      // Polling is its own retry: one request per round.
      const result = await client.liveSessionStatus({ sessionId }, { retry: false, signal: stopper.signal, language });
      if (stopper.signal.aborted) return;
      if (result.ok) {
        const { status } = result.data;
        const away = isAway(status);
        publish({
          status,
          overlay: away ? overlayFor(status, language) : null,
          ended: status === "ended",
          endedText: status === "ended" ? message("broadcastEnded", language) : null,
          endReason: result.data.endReason ?? null,
          graceEndsAt: away ? result.data.graceEndsAt ?? null : null,
          error: null,
        });
      } else if (FINAL_ERRORS.has(result.error.code)) {
        const over = result.error.code === "SESSION_NOT_FOUND" || result.error.code === "SESSION_ENDED";
        publish({
          ...view,
          overlay: null,
          ended: true,
          endedText: over ? message("broadcastEnded", language) : result.error.message,
          error: result.error,
        });
      } else {
        publish({ ...view, error: result.error });
      }
      if (view.ended) return;
      const wait = result.ok
        ? isAway(view.status)
          ? options.awayIntervalMs ?? 2_000
          : options.intervalMs ?? 5_000
        : Math.max(options.intervalMs ?? 5_000, (result.error.retryAfterSeconds ?? 0) * 1000);
      await clock.sleep(wait, stopper.signal);
    }
  };
  void loop();
  return {
    stop: () => stopper.abort(),
    get view() {
      return view;
    },
  };
}

/** The host is gone for now; the grace decides whether they come back. */
function isAway(status: SessionStatus | null): status is "host_disconnected" | "paused" {
  return status === "host_disconnected" || status === "paused";
}

function overlayFor(status: "host_disconnected" | "paused", language: Language) {
  return status === "host_disconnected"
    ? { title: message("hostDisconnectedTitle", language), subtitle: message("hostDisconnectedSubtitle", language) }
    : { title: message("hostPausedTitle", language), subtitle: message("hostPausedSubtitle", language) };
}

function sameView(a: SessionView, b: SessionView): boolean {
  return (
    a.status === b.status &&
    a.ended === b.ended &&
    a.overlay?.title === b.overlay?.title &&
    a.endReason === b.endReason &&
    a.graceEndsAt === b.graceEndsAt &&
    a.error?.code === b.error?.code
  );
}
