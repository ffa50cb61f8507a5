// The room connection state machine of the seed's section 1:
//
//   Disconnected → Connecting → Connected → Reconnecting → Connected
//                       └──── failure ────────↗     └── max retries → Disconnected
//
// LiveKit resumes a dropped connection itself; when it gives up (Disconnected
// with a network reason) the machine retries the whole connection through the
// app's `reconnect` (a fresh token, `room.connect`) up to `maxRetries` times.
// `reduce` is pure; `ConnectionStateMachine` runs it, feeds it room events
// and exposes the state with the seed's UI text.
import { ConnectionState as LiveKitState, DisconnectReason, RoomEvent } from "livekit-client";
import type { Room } from "livekit-client";
import { systemClock } from "./clock.js";
import type { Clock } from "./clock.js";
import { currentLanguage } from "./language.js";
import type { LanguageSource } from "./language.js";
import { message } from "./messages.js";
import { backoffMs, DEFAULT_RETRY } from "./retry.js";

export type ConnectionState = "disconnected" | "connecting" | "connected" | "reconnecting";

/** Why the machine is disconnected. */
export type DisconnectCause =
  | "initial" // never connected
  | "user" // the app left (CLIENT_INITIATED)
  | "ended" // the room is gone or this participant was removed: do not retry
  | "max_retries"; // every retry failed

export type ConnectionInput =
  | { type: "connect" } // connect() called, or LiveKit reports connecting
  | { type: "connected" }
  | { type: "connect_failed" }
  | { type: "reconnecting" } // LiveKit lost the connection and is resuming
  | { type: "reconnected" }
  | { type: "disconnected"; cause: "user" | "ended" | "network" };

export interface ConnectionSnapshot {
  state: ConnectionState;
  /** Retries of the whole connection spent since the last success. */
  retries: number;
  /** Set while disconnected. */
  cause: DisconnectCause | null;
  /** Connected again after reconnecting: the "Bağlantı sağlandı" moment. */
  recovered: boolean;
}

/** What the machine asks its runner to do after a step. */
export type ConnectionEffect = { type: "retry"; retry: number } | null;

export const INITIAL_CONNECTION: ConnectionSnapshot = { state: "disconnected", retries: 0, cause: "initial", recovered: false };

/** One step of the machine. Inputs that mean nothing in a state leave it. */
export function reduce(
  snapshot: ConnectionSnapshot,
  input: ConnectionInput,
  maxRetries: number,
): { snapshot: ConnectionSnapshot; effect: ConnectionEffect } {
  const stay = { snapshot, effect: null };
  const failed = (): { snapshot: ConnectionSnapshot; effect: ConnectionEffect } =>
    snapshot.retries < maxRetries
      ? {
          snapshot: { state: "reconnecting", retries: snapshot.retries + 1, cause: null, recovered: false },
          effect: { type: "retry", retry: snapshot.retries + 1 },
        }
      : { snapshot: { state: "disconnected", retries: snapshot.retries, cause: "max_retries", recovered: false }, effect: null };

  if (input.type === "disconnected" && input.cause !== "network") {
    return { snapshot: { state: "disconnected", retries: 0, cause: input.cause, recovered: false }, effect: null };
  }
  if (snapshot.state === "disconnected") {
    return input.type === "connect"
      ? { snapshot: { state: "connecting", retries: 0, cause: null, recovered: false }, effect: null }
      : stay;
  }
  // Connecting, connected or reconnecting: a failure spends a retry.
  if (input.type === "connect_failed" || input.type === "disconnected") return failed();
  switch (input.type) {
    case "connected":
    case "reconnected":
      // Back from reconnecting is the "Bağlantı sağlandı" moment. LiveKit's
      // Reconnected means nothing outside reconnecting.
      if (snapshot.state === "reconnecting") {
        return { snapshot: { state: "connected", retries: 0, cause: null, recovered: true }, effect: null };
      }
      return input.type === "connected" && snapshot.state === "connecting"
        ? { snapshot: { state: "connected", retries: 0, cause: null, recovered: false }, effect: null }
        : stay;
    case "reconnecting":
      return snapshot.state === "reconnecting" ? stay : { snapshot: { ...snapshot, state: "reconnecting", recovered: false }, effect: null };
    case "connect":
      // A retry's connect() keeps the user on "Yeniden bağlanıyor...".
      return stay;
  }
}

/** What the UI shows for a snapshot (the seed's table). */
export interface ConnectionFeedback {
  /** loading: a spinner; toast: a passing note; closed: leave the screen or offer a retry. */
  kind: "none" | "loading" | "toast" | "closed";
  text: string | null;
}

export function feedbackFor(snapshot: ConnectionSnapshot, language: LanguageSource | undefined): ConnectionFeedback {
  const lang = currentLanguage(language);
  switch (snapshot.state) {
    case "connecting":
      return { kind: "loading", text: message("connecting", lang) };
    case "reconnecting":
      return { kind: "toast", text: message("reconnecting", lang) };
    case "connected":
      return snapshot.recovered ? { kind: "toast", text: message("reconnected", lang) } : { kind: "none", text: null };
    case "disconnected":
      return snapshot.cause === "max_retries" || snapshot.cause === "ended"
        ? { kind: "closed", text: message("disconnected", lang) }
        : { kind: "none", text: null };
  }
}

/** The events the machine listens to (a livekit-client `Room`, or a fake). */
export type RoomEvents = Pick<Room, "on" | "off">;

export interface ConnectionMachineOptions {
  language?: LanguageSource;
  /** Retries of the whole connection after LiveKit gives up. Default 3. */
  maxRetries?: number;
  /** Connects again (a fresh token, then `room.connect`). Without it the
   * machine does not retry: LiveKit giving up means Disconnected. */
  reconnect?: (retry: number) => Promise<void>;
  clock?: Clock;
  random?: () => number;
}

export type ConnectionListener = (snapshot: ConnectionSnapshot, feedback: ConnectionFeedback) => void;

export class ConnectionStateMachine {
  private current: ConnectionSnapshot = INITIAL_CONNECTION;
  private readonly listeners = new Set<ConnectionListener>();
  private readonly maxRetries: number;
  private readonly clock: Clock;
  private readonly random: () => number;
  /** Bumped on every step, so that a stale retry does not run. */
  private generation = 0;

  constructor(private readonly options: ConnectionMachineOptions = {}) {
    this.maxRetries = options.reconnect === undefined ? 0 : options.maxRetries ?? 3;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
  }

  get snapshot(): ConnectionSnapshot {
    return this.current;
  }

  get state(): ConnectionState {
    return this.current.state;
  }

  get feedback(): ConnectionFeedback {
    return feedbackFor(this.current, this.options.language);
  }

  /** Calls `listener` on every change; returns the unsubscribe. */
  subscribe(listener: ConnectionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Feeds one input. */
  send(input: ConnectionInput): void {
    const { snapshot, effect } = reduce(this.current, input, this.maxRetries);
    if (snapshot === this.current) return;
    this.current = snapshot;
    const generation = ++this.generation;
    const feedback = this.feedback;
    for (const listener of this.listeners) listener(snapshot, feedback);
    if (effect?.type === "retry") void this.retry(effect.retry, generation);
  }

  /** Runs the app's first connect (`room.connect(url, token)`) through the machine. */
  async connect(run: () => Promise<void>): Promise<boolean> {
    this.send({ type: "connect" });
    // The room's own events may report the outcome first (livekit-client
    // emits Disconnected before connect() rejects): count it once.
    const generation = this.generation;
    try {
      await run();
      if (generation === this.generation) this.send({ type: "connected" });
      return true;
    } catch {
      if (generation === this.generation) this.send({ type: "connect_failed" });
      return false;
    }
  }

  /** Follows `room`'s events; returns the function that stops following. */
  attach(room: RoomEvents): () => void {
    const onState = (state: LiveKitState) => {
      switch (state) {
        case LiveKitState.Connecting:
          return this.send({ type: "connect" });
        case LiveKitState.Connected:
          return this.send({ type: "connected" });
        case LiveKitState.Reconnecting:
        case LiveKitState.SignalReconnecting:
          return this.send({ type: "reconnecting" });
        default:
          // Disconnected arrives with its reason through RoomEvent.Disconnected.
          return undefined;
      }
    };
    const onReconnecting = () => this.send({ type: "reconnecting" });
    const onReconnected = () => this.send({ type: "reconnected" });
    const onDisconnected = (reason?: DisconnectReason) => this.send({ type: "disconnected", cause: disconnectCause(reason) });
    room.on(RoomEvent.ConnectionStateChanged, onState);
    room.on(RoomEvent.Reconnecting, onReconnecting);
    room.on(RoomEvent.SignalReconnecting, onReconnecting);
    room.on(RoomEvent.Reconnected, onReconnected);
    room.on(RoomEvent.Disconnected, onDisconnected);
    return () => {
      room.off(RoomEvent.ConnectionStateChanged, onState);
      room.off(RoomEvent.Reconnecting, onReconnecting);
      room.off(RoomEvent.SignalReconnecting, onReconnecting);
      room.off(RoomEvent.Reconnected, onReconnected);
      room.off(RoomEvent.Disconnected, onDisconnected);
    };
  }

  private async retry(retry: number, generation: number): Promise<void> {
    await this.clock.sleep(backoffMs(retry - 1, DEFAULT_RETRY, this.random));
    // Something happened meanwhile (LiveKit recovered, the app left): drop it.
    if (generation !== this.generation || this.options.reconnect === undefined) return;
    try {
      await this.options.reconnect(retry);
      if (generation === this.generation) this.send({ type: "connected" });
    } catch {
      if (generation === this.generation) this.send({ type: "connect_failed" });
    }
  }
}

/** LiveKit's reason → whether retrying may help. */
export function disconnectCause(reason: DisconnectReason | undefined): "user" | "ended" | "network" {
  switch (reason) {
    case DisconnectReason.CLIENT_INITIATED:
      return "user";
    case DisconnectReason.DUPLICATE_IDENTITY:
    case DisconnectReason.PARTICIPANT_REMOVED:
    case DisconnectReason.ROOM_DELETED:
    case DisconnectReason.ROOM_CLOSED:
    case DisconnectReason.USER_REJECTED:
    case DisconnectReason.USER_UNAVAILABLE:
      return "ended";
    default:
      return "network";
  }
}
