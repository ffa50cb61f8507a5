import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ConnectionState as LiveKitState, DisconnectReason, RoomEvent } from "livekit-client";
import { backoffMs, ConnectionStateMachine, DEFAULT_RETRY, disconnectCause, feedbackFor, INITIAL_CONNECTION, reduce } from "../../src/index.js";
import type { ConnectionEffect, ConnectionInput, ConnectionMachineOptions, ConnectionSnapshot, ConnectionState, DisconnectCause, RoomEvents } from "../../src/index.js";
import { FakeClock } from "../support/fake-clock.js";
import { FakeRoom } from "../support/fake-room.js";

const MAX = 3;

function snap(state: ConnectionState, retries = 0, cause: DisconnectCause | null = null, recovered = false): ConnectionSnapshot {
  return { state, retries, cause, recovered };
}

const D = INITIAL_CONNECTION;
const C = snap("connecting");
const K = snap("connected");
const KR = snap("connected", 0, null, true);
const R0 = snap("reconnecting");
const R1 = snap("reconnecting", 1);
const R2 = snap("reconnecting", 2);
const R3 = snap("reconnecting", 3);
const DUSER = snap("disconnected", 0, "user");
const DENDED = snap("disconnected", 0, "ended");
const DMAX = snap("disconnected", 3, "max_retries");

const connect: ConnectionInput = { type: "connect" };
const connected: ConnectionInput = { type: "connected" };
const connectFailed: ConnectionInput = { type: "connect_failed" };
const reconnecting: ConnectionInput = { type: "reconnecting" };
const reconnected: ConnectionInput = { type: "reconnected" };
const user: ConnectionInput = { type: "disconnected", cause: "user" };
const ended: ConnectionInput = { type: "disconnected", cause: "ended" };
const network: ConnectionInput = { type: "disconnected", cause: "network" };

const STAY = "stay" as const;
type Row = [name: string, from: ConnectionSnapshot, input: ConnectionInput, next: ConnectionSnapshot | typeof STAY, effect: ConnectionEffect];
const retry = (n: number): ConnectionEffect => ({ type: "retry", retry: n });

// Every state × every input (maxRetries 3).
const TABLE: Row[] = [
  ["disconnected", D, connect, C, null],
  ["disconnected", D, connected, STAY, null],
  ["disconnected", D, connectFailed, STAY, null],
  ["disconnected", D, reconnecting, STAY, null],
  ["disconnected", D, reconnected, STAY, null],
  ["disconnected", D, user, DUSER, null],
  ["disconnected", D, ended, DENDED, null],
  ["disconnected", D, network, STAY, null],
  ["disconnected (max_retries)", DMAX, connect, C, null],
  ["disconnected (max_retries)", DMAX, network, STAY, null],
  ["disconnected (user)", DUSER, connect, C, null],

  ["connecting", C, connect, STAY, null],
  ["connecting", C, connected, K, null],
  ["connecting", C, connectFailed, R1, retry(1)],
  ["connecting", C, reconnecting, R0, null],
  ["connecting", C, reconnected, STAY, null],
  ["connecting", C, user, DUSER, null],
  ["connecting", C, ended, DENDED, null],
  ["connecting", C, network, R1, retry(1)],

  ["connected", K, connect, STAY, null],
  ["connected", K, connected, STAY, null],
  ["connected", K, connectFailed, R1, retry(1)],
  ["connected", K, reconnecting, R0, null],
  ["connected", K, reconnected, STAY, null],
  ["connected", K, user, DUSER, null],
  ["connected", K, ended, DENDED, null],
  ["connected", K, network, R1, retry(1)],
  ["connected (recovered)", KR, reconnecting, R0, null],
  ["connected (recovered)", KR, connected, STAY, null],
  ["connected (recovered)", KR, network, R1, retry(1)],

  ["reconnecting (0)", R0, connect, STAY, null],
  ["reconnecting (0)", R0, connected, KR, null],
  ["reconnecting (0)", R0, connectFailed, R1, retry(1)],
  ["reconnecting (0)", R0, reconnecting, STAY, null],
  ["reconnecting (0)", R0, reconnected, KR, null],
  ["reconnecting (0)", R0, user, DUSER, null],
  ["reconnecting (0)", R0, ended, DENDED, null],
  ["reconnecting (0)", R0, network, R1, retry(1)],

  ["reconnecting (1)", R1, connect, STAY, null],
  ["reconnecting (1)", R1, connected, KR, null],
  ["reconnecting (1)", R1, connectFailed, R2, retry(2)],
  ["reconnecting (1)", R1, reconnecting, STAY, null],
  ["reconnecting (1)", R1, reconnected, KR, null],
  ["reconnecting (1)", R1, user, DUSER, null],
  ["reconnecting (1)", R1, ended, DENDED, null],
  ["reconnecting (1)", R1, network, R2, retry(2)],

  ["reconnecting (max)", R3, connect, STAY, null],
  ["reconnecting (max)", R3, connected, KR, null],
  ["reconnecting (max)", R3, connectFailed, DMAX, null],
  ["reconnecting (max)", R3, reconnecting, STAY, null],
  ["reconnecting (max)", R3, reconnected, KR, null],
  ["reconnecting (max)", R3, user, DUSER, null],
  ["reconnecting (max)", R3, ended, DENDED, null],
  ["reconnecting (max)", R3, network, DMAX, null],
];

function describeInput(input: ConnectionInput): string {
  return input.type === "disconnected" ? `disconnected(${input.cause})` : input.type;
}

describe("reduce", () => {
  for (const [name, from, input, next, effect] of TABLE) {
    const label = next === STAY ? "stays" : `→ ${next.state} retries=${next.retries} cause=${next.cause} recovered=${next.recovered}`;
    test(`${name} + ${describeInput(input)} ${label}${effect ? ` + retry ${effect.retry}` : ""}`, () => {
      const step = reduce(from, input, MAX);
      if (next === STAY) assert.equal(step.snapshot, from, "the same object: the runner sees no change");
      else assert.deepEqual(step.snapshot, next);
      assert.deepEqual(step.effect, effect);
    });
  }

  test("maxRetries 0: a failed connect is disconnected with max_retries at once", () => {
    assert.deepEqual(reduce(C, connectFailed, 0), { snapshot: snap("disconnected", 0, "max_retries"), effect: null });
    assert.deepEqual(reduce(K, network, 0), { snapshot: snap("disconnected", 0, "max_retries"), effect: null });
  });

  test("a run of failures: retries 1, 2, 3, then max_retries", () => {
    let current = K;
    const effects: ConnectionEffect[] = [];
    for (const input of [network, connectFailed, connectFailed, connectFailed]) {
      const step = reduce(current, input, MAX);
      current = step.snapshot;
      effects.push(step.effect);
    }
    assert.deepEqual(current, DMAX);
    assert.deepEqual(effects, [retry(1), retry(2), retry(3), null]);
  });
});

describe("disconnectCause", () => {
  test("LiveKit's reasons", () => {
    assert.equal(disconnectCause(DisconnectReason.CLIENT_INITIATED), "user");
    for (const reason of [
      DisconnectReason.DUPLICATE_IDENTITY,
      DisconnectReason.PARTICIPANT_REMOVED,
      DisconnectReason.ROOM_DELETED,
      DisconnectReason.ROOM_CLOSED,
      DisconnectReason.USER_REJECTED,
      DisconnectReason.USER_UNAVAILABLE,
    ]) {
      assert.equal(disconnectCause(reason), "ended", DisconnectReason[reason]);
    }
    for (const reason of [undefined, DisconnectReason.SIGNAL_CLOSE, DisconnectReason.UNKNOWN_REASON, DisconnectReason.SERVER_SHUTDOWN, DisconnectReason.JOIN_FAILURE]) {
      assert.equal(disconnectCause(reason), "network", String(reason));
    }
  });
});

describe("feedbackFor", () => {
  const cases: Array<[ConnectionSnapshot, string, { kind: string; tr: string | null; en: string | null }]> = [
    [C, "connecting", { kind: "loading", tr: "Bağlanıyor...", en: "Connecting..." }],
    [R1, "reconnecting", { kind: "toast", tr: "Yeniden bağlanıyor...", en: "Reconnecting..." }],
    [KR, "connected after recovery", { kind: "toast", tr: "Bağlantı sağlandı", en: "Connection restored" }],
    [K, "connected", { kind: "none", tr: null, en: null }],
    [DMAX, "disconnected (max_retries)", { kind: "closed", tr: "Bağlantı koptu", en: "Connection lost" }],
    [DENDED, "disconnected (ended)", { kind: "closed", tr: "Bağlantı koptu", en: "Connection lost" }],
    [DUSER, "disconnected (user)", { kind: "none", tr: null, en: null }],
    [D, "disconnected (initial)", { kind: "none", tr: null, en: null }],
  ];
  for (const [snapshot, name, expected] of cases) {
    test(name, () => {
      assert.deepEqual(feedbackFor(snapshot, "tr"), { kind: expected.kind, text: expected.tr });
      assert.deepEqual(feedbackFor(snapshot, "en"), { kind: expected.kind, text: expected.en });
      assert.deepEqual(feedbackFor(snapshot, undefined), { kind: expected.kind, text: expected.tr }, "Turkish by default");
      assert.deepEqual(feedbackFor(snapshot, () => "en"), { kind: expected.kind, text: expected.en });
    });
  }
});

interface Setup {
  machine: ConnectionStateMachine;
  room: FakeRoom;
  clock: FakeClock;
  detach: () => void;
  seen: ConnectionSnapshot[];
  texts: Array<string | null>;
  reconnects: number[];
}

function setup(options: Partial<ConnectionMachineOptions> & { reconnectOutcomes?: Array<"ok" | "fail"> } = {}): Setup {
  const clock = new FakeClock();
  const room = new FakeRoom();
  const reconnects: number[] = [];
  const { reconnectOutcomes, ...rest } = options;
  const machineOptions: ConnectionMachineOptions = { clock, random: () => 0.5, ...rest };
  if (reconnectOutcomes !== undefined) {
    machineOptions.reconnect = (n) => {
      reconnects.push(n);
      return reconnectOutcomes.shift() === "ok" ? Promise.resolve() : Promise.reject(new Error("connect failed"));
    };
  }
  const machine = new ConnectionStateMachine(machineOptions);
  const seen: ConnectionSnapshot[] = [];
  const texts: Array<string | null> = [];
  machine.subscribe((snapshot, feedback) => {
    seen.push(snapshot);
    texts.push(feedback.text);
  });
  const detach = machine.attach(room as unknown as RoomEvents);
  return { machine, room, clock, detach, seen, texts, reconnects };
}

function bringUp(s: Setup): void {
  s.room.emit(RoomEvent.ConnectionStateChanged, LiveKitState.Connecting);
  s.room.emit(RoomEvent.ConnectionStateChanged, LiveKitState.Connected);
}

const BACKOFFS = [0, 1, 2].map((n) => backoffMs(n, DEFAULT_RETRY, () => 0.5));

describe("ConnectionStateMachine with a room", () => {
  test("starts disconnected (initial) with no feedback", () => {
    const s = setup();
    assert.deepEqual(s.machine.snapshot, INITIAL_CONNECTION);
    assert.equal(s.machine.state, "disconnected");
    assert.deepEqual(s.machine.feedback, { kind: "none", text: null });
  });

  test("ConnectionStateChanged Connecting → Connected", () => {
    const s = setup();
    s.room.emit(RoomEvent.ConnectionStateChanged, LiveKitState.Connecting);
    assert.equal(s.machine.state, "connecting");
    assert.deepEqual(s.machine.feedback, { kind: "loading", text: "Bağlanıyor..." });
    s.room.emit(RoomEvent.ConnectionStateChanged, LiveKitState.Connected);
    assert.deepEqual(s.machine.snapshot, K);
    assert.deepEqual(s.machine.feedback, { kind: "none", text: null });
    assert.deepEqual(s.texts, ["Bağlanıyor...", null]);
  });

  test("ConnectionStateChanged Disconnected is ignored (the reason comes with RoomEvent.Disconnected)", () => {
    const s = setup();
    bringUp(s);
    s.room.emit(RoomEvent.ConnectionStateChanged, LiveKitState.Disconnected);
    assert.equal(s.machine.state, "connected");
  });

  for (const [name, emit] of [
    ["RoomEvent.Reconnecting", (room: FakeRoom) => room.emit(RoomEvent.Reconnecting)],
    ["RoomEvent.SignalReconnecting", (room: FakeRoom) => room.emit(RoomEvent.SignalReconnecting)],
    ["ConnectionStateChanged Reconnecting", (room: FakeRoom) => room.emit(RoomEvent.ConnectionStateChanged, LiveKitState.Reconnecting)],
    ["ConnectionStateChanged SignalReconnecting", (room: FakeRoom) => room.emit(RoomEvent.ConnectionStateChanged, LiveKitState.SignalReconnecting)],
  ] as const) {
    test(`${name} → reconnecting`, () => {
      const s = setup();
      bringUp(s);
      emit(s.room);
      assert.equal(s.machine.state, "reconnecting");
      assert.deepEqual(s.machine.feedback, { kind: "toast", text: "Yeniden bağlanıyor..." });
    });
  }

  test("Reconnected → connected, recovered: 'Bağlantı sağlandı'", () => {
    const s = setup();
    bringUp(s);
    s.room.emit(RoomEvent.Reconnecting);
    s.room.emit(RoomEvent.Reconnected);
    assert.deepEqual(s.machine.snapshot, KR);
    assert.deepEqual(s.machine.feedback, { kind: "toast", text: "Bağlantı sağlandı" });
  });

  test("LiveKit's resume order (state Connected, then Reconnected) notifies once", () => {
    const s = setup();
    bringUp(s);
    s.room.emit(RoomEvent.ConnectionStateChanged, LiveKitState.Reconnecting);
    s.room.emit(RoomEvent.Reconnecting);
    s.room.emit(RoomEvent.ConnectionStateChanged, LiveKitState.Connected);
    s.room.emit(RoomEvent.Reconnected);
    assert.deepEqual(
      s.seen.map((snapshot) => [snapshot.state, snapshot.recovered]),
      [
        ["connecting", false],
        ["connected", false],
        ["reconnecting", false],
        ["connected", true],
      ],
    );
  });

  test("Disconnected(CLIENT_INITIATED) → disconnected, cause user, no feedback, no retry", async () => {
    const s = setup({ reconnectOutcomes: ["ok"] });
    bringUp(s);
    s.room.emit(RoomEvent.Disconnected, DisconnectReason.CLIENT_INITIATED);
    assert.deepEqual(s.machine.snapshot, DUSER);
    assert.deepEqual(s.machine.feedback, { kind: "none", text: null });
    await s.clock.advance(60_000);
    assert.deepEqual(s.reconnects, []);
  });

  for (const reason of [DisconnectReason.ROOM_DELETED, DisconnectReason.PARTICIPANT_REMOVED, DisconnectReason.DUPLICATE_IDENTITY]) {
    test(`Disconnected(${DisconnectReason[reason]}) → ended, 'Bağlantı koptu', no retry`, async () => {
      const s = setup({ reconnectOutcomes: ["ok"] });
      bringUp(s);
      s.room.emit(RoomEvent.Disconnected, reason);
      assert.deepEqual(s.machine.snapshot, DENDED);
      assert.deepEqual(s.machine.feedback, { kind: "closed", text: "Bağlantı koptu" });
      await s.clock.advance(60_000);
      assert.deepEqual(s.reconnects, []);
      assert.deepEqual(s.clock.sleeps, []);
    });
  }

  for (const reason of [undefined, DisconnectReason.SIGNAL_CLOSE]) {
    test(`Disconnected(${reason === undefined ? "undefined" : DisconnectReason[reason]}) with reconnect: retries up to maxRetries, then max_retries`, async () => {
      const s = setup({ reconnectOutcomes: ["fail", "fail", "fail", "ok"] });
      bringUp(s);
      s.room.emit(RoomEvent.Disconnected, reason);
      assert.deepEqual(s.machine.snapshot, R1);
      assert.deepEqual(s.machine.feedback, { kind: "toast", text: "Yeniden bağlanıyor..." });
      await s.clock.advance(BACKOFFS[0]! - 1);
      assert.deepEqual(s.reconnects, [], "waits the backoff first");
      await s.clock.advance(1);
      assert.deepEqual(s.reconnects, [1]);
      assert.deepEqual(s.machine.snapshot, R2);
      await s.clock.advance(BACKOFFS[1]!);
      assert.deepEqual(s.reconnects, [1, 2]);
      assert.deepEqual(s.machine.snapshot, R3);
      await s.clock.advance(BACKOFFS[2]!);
      assert.deepEqual(s.reconnects, [1, 2, 3]);
      assert.deepEqual(s.machine.snapshot, DMAX);
      assert.deepEqual(s.machine.feedback, { kind: "closed", text: "Bağlantı koptu" });
      assert.deepEqual(s.clock.sleeps, BACKOFFS);
      await s.clock.advance(60_000);
      assert.deepEqual(s.reconnects, [1, 2, 3], "no fourth retry");
    });
  }

  test("maxRetries is configurable", async () => {
    const s = setup({ maxRetries: 1, reconnectOutcomes: ["fail", "ok"] });
    bringUp(s);
    s.room.emit(RoomEvent.Disconnected, DisconnectReason.SIGNAL_CLOSE);
    await s.clock.advance(10_000);
    assert.deepEqual(s.reconnects, [1]);
    assert.deepEqual(s.machine.snapshot, snap("disconnected", 1, "max_retries"));
  });

  test("a reconnect that succeeds → connected, recovered, retries reset", async () => {
    const s = setup({ reconnectOutcomes: ["fail", "ok"] });
    bringUp(s);
    s.room.emit(RoomEvent.Disconnected, DisconnectReason.SIGNAL_CLOSE);
    await s.clock.advance(BACKOFFS[0]! + BACKOFFS[1]!);
    assert.deepEqual(s.reconnects, [1, 2]);
    assert.deepEqual(s.machine.snapshot, KR);
    assert.deepEqual(s.machine.feedback, { kind: "toast", text: "Bağlantı sağlandı" });
    assert.equal(s.clock.pending, 0);
  });

  test("a retry's own room events keep 'reconnecting' and do not double the retry", async () => {
    const clock = new FakeClock();
    const room = new FakeRoom();
    const reconnects: number[] = [];
    const machine = new ConnectionStateMachine({
      clock,
      random: () => 0.5,
      reconnect: (n) => {
        reconnects.push(n);
        // What room.connect does: Connecting, then Connected.
        room.emit(RoomEvent.ConnectionStateChanged, LiveKitState.Connecting);
        room.emit(RoomEvent.ConnectionStateChanged, LiveKitState.Connected);
        return Promise.resolve();
      },
    });
    machine.attach(room as unknown as RoomEvents);
    room.emit(RoomEvent.ConnectionStateChanged, LiveKitState.Connecting);
    room.emit(RoomEvent.ConnectionStateChanged, LiveKitState.Connected);
    room.emit(RoomEvent.Disconnected, DisconnectReason.SIGNAL_CLOSE);
    await clock.advance(10_000);
    assert.deepEqual(reconnects, [1]);
    assert.deepEqual(machine.snapshot, KR);
  });

  test("LiveKit recovering during the backoff cancels the retry", async () => {
    const s = setup({ reconnectOutcomes: ["ok"] });
    bringUp(s);
    s.room.emit(RoomEvent.Disconnected, DisconnectReason.SIGNAL_CLOSE);
    s.room.emit(RoomEvent.Reconnected);
    await s.clock.advance(10_000);
    assert.deepEqual(s.reconnects, []);
    assert.deepEqual(s.machine.snapshot, KR);
  });

  test("the app leaving during the backoff cancels the retry", async () => {
    const s = setup({ reconnectOutcomes: ["ok"] });
    bringUp(s);
    s.room.emit(RoomEvent.Disconnected, DisconnectReason.SIGNAL_CLOSE);
    s.room.emit(RoomEvent.Disconnected, DisconnectReason.CLIENT_INITIATED);
    await s.clock.advance(10_000);
    assert.deepEqual(s.reconnects, []);
    assert.deepEqual(s.machine.snapshot, DUSER);
  });

  test("without reconnect: a network disconnect is disconnected at once (max_retries)", async () => {
    const s = setup();
    bringUp(s);
    s.room.emit(RoomEvent.Disconnected, DisconnectReason.SIGNAL_CLOSE);
    assert.deepEqual(s.machine.snapshot, snap("disconnected", 0, "max_retries"));
    assert.deepEqual(s.machine.feedback, { kind: "closed", text: "Bağlantı koptu" });
    assert.deepEqual(s.clock.sleeps, []);
  });

  test("detach removes every listener", () => {
    const s = setup();
    assert.equal(s.room.listenerCount(), 5);
    s.detach();
    assert.equal(s.room.listenerCount(), 0);
    bringUp(s);
    s.room.emit(RoomEvent.Disconnected, DisconnectReason.ROOM_DELETED);
    assert.deepEqual(s.machine.snapshot, INITIAL_CONNECTION);
    assert.deepEqual(s.seen, []);
  });

  test("English feedback", () => {
    const s = setup({ language: "en" });
    s.room.emit(RoomEvent.ConnectionStateChanged, LiveKitState.Connecting);
    assert.equal(s.machine.feedback.text, "Connecting...");
    s.room.emit(RoomEvent.ConnectionStateChanged, LiveKitState.Connected);
    s.room.emit(RoomEvent.Reconnecting);
    assert.equal(s.machine.feedback.text, "Reconnecting...");
    s.room.emit(RoomEvent.Reconnected);
    assert.equal(s.machine.feedback.text, "Connection restored");
    s.room.emit(RoomEvent.Disconnected, DisconnectReason.ROOM_DELETED);
    assert.equal(s.machine.feedback.text, "Connection lost");
  });
});

describe("ConnectionStateMachine.connect", () => {
  test("success: connecting, then connected; true", async () => {
    const s = setup();
    let during: ConnectionState | null = null;
    const ok = await s.machine.connect(async () => {
      during = s.machine.state;
    });
    assert.equal(ok, true);
    assert.equal(during, "connecting");
    assert.deepEqual(s.seen, [C, K]);
  });

  test("failure without reconnect: false, disconnected (max_retries)", async () => {
    const s = setup();
    const ok = await s.machine.connect(() => Promise.reject(new Error("no route")));
    assert.equal(ok, false);
    assert.deepEqual(s.machine.snapshot, snap("disconnected", 0, "max_retries"));
  });

  test("failure with reconnect: false now, then the retries run", async () => {
    const s = setup({ reconnectOutcomes: ["ok"] });
    const ok = await s.machine.connect(() => Promise.reject(new Error("no route")));
    assert.equal(ok, false);
    assert.deepEqual(s.machine.snapshot, R1);
    await s.clock.advance(BACKOFFS[0]!);
    assert.deepEqual(s.reconnects, [1]);
    assert.deepEqual(s.machine.snapshot, KR);
  });
});

describe("ConnectionStateMachine with LiveKit's failing connect", () => {
  // What livekit-client's Room.connect does when it fails: state Connecting,
  // then handleDisconnect (state Disconnected, RoomEvent.Disconnected with a
  // reason such as UNKNOWN_REASON or JOIN_FAILURE), and only then the rejection.
  function failingConnect(room: FakeRoom): () => Promise<void> {
    return () => {
      room.emit(RoomEvent.ConnectionStateChanged, LiveKitState.Connecting);
      room.emit(RoomEvent.ConnectionStateChanged, LiveKitState.Disconnected);
      room.emit(RoomEvent.Disconnected, DisconnectReason.JOIN_FAILURE);
      return Promise.reject(new Error("could not establish signal connection"));
    };
  }

  test("retries whose room.connect fails: each failure spends one retry", async () => {
    const clock = new FakeClock();
    const room = new FakeRoom();
    const reconnects: number[] = [];
    const machine = new ConnectionStateMachine({
      clock,
      random: () => 0.5,
      reconnect: (n) => {
        reconnects.push(n);
        return failingConnect(room)();
      },
    });
    machine.attach(room as unknown as RoomEvents);
    room.emit(RoomEvent.ConnectionStateChanged, LiveKitState.Connecting);
    room.emit(RoomEvent.ConnectionStateChanged, LiveKitState.Connected);
    room.emit(RoomEvent.Disconnected, DisconnectReason.SIGNAL_CLOSE);
    await clock.advance(60_000);
    assert.deepEqual(reconnects, [1, 2, 3]);
    assert.deepEqual(machine.snapshot, DMAX);
  });

  test(
    "connect(run) through an attached room: one failed connect spends one retry, not two",
    async () => {
      const clock = new FakeClock();
      const room = new FakeRoom();
      const reconnects: number[] = [];
      const machine = new ConnectionStateMachine({
        clock,
        random: () => 0.5,
        reconnect: (n) => {
          reconnects.push(n);
          return failingConnect(room)();
        },
      });
      machine.attach(room as unknown as RoomEvents);
      const ok = await machine.connect(failingConnect(room));
      assert.equal(ok, false);
      await clock.advance(60_000);
      assert.deepEqual(reconnects, [1, 2, 3], "maxRetries (3) retries, numbered from 1");
      assert.deepEqual(machine.snapshot, DMAX);
    },
  );
});

describe("ConnectionStateMachine.subscribe", () => {
  test("listeners get (snapshot, feedback) on changes only, and stop after unsubscribe", () => {
    const machine = new ConnectionStateMachine();
    const calls: Array<[ConnectionState, string | null]> = [];
    const unsubscribe = machine.subscribe((snapshot, feedback) => calls.push([snapshot.state, feedback.text]));
    machine.send(connect);
    machine.send(connect); // no change
    machine.send(connected);
    machine.send(reconnected); // no change
    assert.deepEqual(calls, [
      ["connecting", "Bağlanıyor..."],
      ["connected", null],
    ]);
    unsubscribe();
    machine.send(reconnecting);
    assert.equal(calls.length, 2);
    assert.equal(machine.state, "reconnecting");
  });
});
