import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ConnectionQuality, RoomEvent } from "livekit-client";
import { attachQualityPolicy, recommendedRoomOptions } from "../../src/index.js";
import type { QualityPolicyOptions, QualityRoom, QualitySessionType } from "../../src/index.js";
import { flushPending } from "../support/fake-clock.js";
import { FakeRoom } from "../support/fake-room.js";

const LOCAL = { isLocal: true };
const REMOTE = { isLocal: false };

function setup(sessionType: QualitySessionType, room = new FakeRoom(), extra: Partial<QualityPolicyOptions> = {}) {
  const toasts: Array<[string, "poor" | "lost"]> = [];
  const errors: unknown[] = [];
  const detach = attachQualityPolicy(room as unknown as QualityRoom, {
    sessionType,
    onToast: (text, quality) => toasts.push([text, quality]),
    onError: (error) => errors.push(error),
    ...extra,
  });
  const quality = (value: ConnectionQuality, participant = LOCAL) => room.emit(RoomEvent.ConnectionQualityChanged, value, participant);
  return { room, toasts, errors, detach, quality };
}

describe("attachQualityPolicy", () => {
  test("Poor (local, video_live): toast and the camera off", async () => {
    const s = setup("video_live");
    s.quality(ConnectionQuality.Poor);
    await flushPending();
    assert.deepEqual(s.toasts, [["Bağlantı kalitesi düşük", "poor"]]);
    assert.deepEqual(s.room.localParticipant.cameraCalls, [false]);
    assert.equal(s.room.localParticipant.isCameraEnabled, false);
    assert.deepEqual(s.errors, []);
  });

  test("Poor with the camera already off: toast, no camera call", () => {
    const s = setup("video_live", new FakeRoom({ cameraEnabled: false }));
    s.quality(ConnectionQuality.Poor);
    assert.deepEqual(s.toasts, [["Bağlantı kalitesi düşük", "poor"]]);
    assert.deepEqual(s.room.localParticipant.cameraCalls, []);
  });

  for (const sessionType of ["audio_live", "video_call", "audio_call"] as const) {
    test(`Poor in ${sessionType}: toast, no camera change`, () => {
      const s = setup(sessionType);
      s.quality(ConnectionQuality.Poor);
      assert.deepEqual(s.toasts, [["Bağlantı kalitesi düşük", "poor"]]);
      assert.deepEqual(s.room.localParticipant.cameraCalls, []);
      assert.equal(s.room.localParticipant.isCameraEnabled, true);
    });
  }

  test("Lost: 'Bağlantı kaybedildi, yeniden bağlanılıyor...', no camera change", () => {
    const s = setup("video_live");
    s.quality(ConnectionQuality.Lost);
    assert.deepEqual(s.toasts, [["Bağlantı kaybedildi, yeniden bağlanılıyor...", "lost"]]);
    assert.deepEqual(s.room.localParticipant.cameraCalls, []);
  });

  test("Good, Excellent and Unknown show nothing", () => {
    const s = setup("video_live");
    s.quality(ConnectionQuality.Excellent);
    s.quality(ConnectionQuality.Good);
    s.quality(ConnectionQuality.Unknown);
    assert.deepEqual(s.toasts, []);
    assert.deepEqual(s.room.localParticipant.cameraCalls, []);
  });

  test("remote participants are ignored", () => {
    const s = setup("video_live");
    s.quality(ConnectionQuality.Poor, REMOTE);
    s.quality(ConnectionQuality.Lost, REMOTE);
    assert.deepEqual(s.toasts, []);
    assert.deepEqual(s.room.localParticipant.cameraCalls, []);
    // ...and do not count as the local participant's last quality.
    s.quality(ConnectionQuality.Poor);
    assert.equal(s.toasts.length, 1);
  });

  test("the same quality again toasts once; a change and back toasts again", () => {
    const s = setup("audio_live");
    s.quality(ConnectionQuality.Poor);
    s.quality(ConnectionQuality.Poor);
    s.quality(ConnectionQuality.Poor);
    assert.equal(s.toasts.length, 1);
    s.quality(ConnectionQuality.Good);
    s.quality(ConnectionQuality.Poor);
    s.quality(ConnectionQuality.Lost);
    s.quality(ConnectionQuality.Lost);
    assert.deepEqual(
      s.toasts.map(([, quality]) => quality),
      ["poor", "poor", "lost"],
    );
  });

  test("English texts", () => {
    const s = setup("audio_live", new FakeRoom(), { language: "en" });
    s.quality(ConnectionQuality.Poor);
    s.quality(ConnectionQuality.Lost);
    assert.deepEqual(s.toasts, [
      ["Poor connection quality", "poor"],
      ["Connection lost, reconnecting...", "lost"],
    ]);
  });

  test("a language function is read at each change", () => {
    let language: "tr" | "en" = "en";
    const s = setup("audio_live", new FakeRoom(), { language: () => language });
    s.quality(ConnectionQuality.Poor);
    language = "tr";
    s.quality(ConnectionQuality.Lost);
    assert.deepEqual(
      s.toasts.map(([text]) => text),
      ["Poor connection quality", "Bağlantı kaybedildi, yeniden bağlanılıyor..."],
    );
  });

  test("a failing setCameraEnabled goes to onError and does not throw; the toast is still shown", async () => {
    const s = setup("video_live", new FakeRoom({ cameraFails: true }));
    assert.doesNotThrow(() => s.quality(ConnectionQuality.Poor));
    await flushPending();
    assert.deepEqual(s.toasts, [["Bağlantı kalitesi düşük", "poor"]]);
    assert.equal(s.errors.length, 1);
    assert.match(String(s.errors[0]), /permission denied/);
  });

  test("a failing setCameraEnabled without onError is swallowed (no unhandled rejection)", async () => {
    const room = new FakeRoom({ cameraFails: true });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      attachQualityPolicy(room as unknown as QualityRoom, { sessionType: "video_live", onToast: () => undefined });
      room.emit(RoomEvent.ConnectionQualityChanged, ConnectionQuality.Poor, LOCAL);
      await flushPending();
      assert.deepEqual(room.localParticipant.cameraCalls, [false]);
      assert.deepEqual(unhandled, []);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });

  test("detach stops the policy", () => {
    const s = setup("video_live");
    assert.equal(s.room.listenerCount(RoomEvent.ConnectionQualityChanged), 1);
    s.detach();
    assert.equal(s.room.listenerCount(), 0);
    s.quality(ConnectionQuality.Poor);
    assert.deepEqual(s.toasts, []);
    assert.deepEqual(s.room.localParticipant.cameraCalls, []);
  });
});

describe("recommendedRoomOptions", () => {
  test("adaptiveStream and dynacast", () => {
    assert.deepEqual(recommendedRoomOptions, { adaptiveStream: true, dynacast: true });
  });
});
