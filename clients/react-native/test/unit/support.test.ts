// The fakes the other tests stand on.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../support/fake-clock.js";
import { FakeFetch } from "../support/fake-fetch.js";
import { FakeRoom } from "../support/fake-room.js";

describe("FakeClock", () => {
  test("sleep resolves only once virtual time reaches it; sleeps are recorded", async () => {
    const clock = new FakeClock();
    let done = false;
    void clock.sleep(100).then(() => (done = true));
    await clock.advance(99);
    assert.equal(done, false);
    await clock.advance(1);
    assert.equal(done, true);
    assert.equal(clock.now(), 100);
    assert.deepEqual(clock.sleeps, [100]);
  });

  test("an abort resolves the sleep at once and removes it", async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    const sleeping = clock.sleep(1000, controller.signal);
    assert.equal(clock.pending, 1);
    controller.abort();
    await sleeping;
    assert.equal(clock.pending, 0);
    assert.equal(clock.now(), 0);
    await clock.sleep(5, AbortSignal.abort());
    assert.deepEqual(clock.sleeps, [1000, 5]);
  });

  test("settle jumps to each pending timer in order", async () => {
    const clock = new FakeClock();
    const order: number[] = [];
    const run = async () => {
      await clock.sleep(300);
      order.push(clock.now());
      await clock.sleep(200);
      order.push(clock.now());
      return "done";
    };
    assert.equal(await clock.settle(run()), "done");
    assert.deepEqual(order, [300, 500]);
  });

  test("settle passes a rejection on", async () => {
    const clock = new FakeClock();
    await assert.rejects(clock.settle(Promise.reject(new Error("nope"))), /nope/);
  });

  test("settle throws on a deadlock", async () => {
    const clock = new FakeClock();
    await assert.rejects(clock.settle(new Promise(() => undefined)), /deadlock/);
  });

  test("advance fires due timers in deadline order", async () => {
    const clock = new FakeClock();
    const fired: string[] = [];
    void clock.sleep(30).then(() => fired.push(`b@${clock.now()}`));
    void clock.sleep(10).then(() => fired.push(`a@${clock.now()}`));
    void clock.sleep(50).then(() => fired.push("c"));
    await clock.advance(40);
    assert.deepEqual(fired, ["a@10", "b@30"]);
    assert.equal(clock.now(), 40);
    assert.deepEqual(clock.pendingDeadlines(), [50]);
  });
});

describe("FakeFetch", () => {
  test("records requests and answers in order", async () => {
    const fake = new FakeFetch({ status: 201, body: { a: 1 }, headers: { "X-Request-Id": "r" } }, { status: 500, body: "raw" });
    const signal = new AbortController().signal;
    const first = await fake.fetch("https://x/a", { method: "POST", headers: { h: "1" }, body: '{"b":2}', signal });
    assert.equal(first.status, 201);
    assert.equal(await first.text(), '{"a":1}');
    assert.equal(first.headers.get("x-request-id"), "r");
    const second = await fake.fetch("https://x/b", { method: "GET", headers: {}, signal });
    assert.equal(await second.text(), "raw");
    assert.equal(second.headers.get("retry-after"), null);
    assert.deepEqual(
      fake.requests.map(({ url, method, headers, body }) => ({ url, method, headers, body })),
      [
        { url: "https://x/a", method: "POST", headers: { h: "1" }, body: { b: 2 } },
        { url: "https://x/b", method: "GET", headers: {}, body: undefined },
      ],
    );
  });

  test("network rejects with a TypeError; hang rejects with an AbortError on abort", async () => {
    const fake = new FakeFetch("network", "hang");
    const controller = new AbortController();
    await assert.rejects(fake.fetch("u", { method: "GET", headers: {}, signal: controller.signal }), TypeError);
    const hanging = fake.fetch("u", { method: "GET", headers: {}, signal: controller.signal });
    controller.abort();
    await assert.rejects(hanging, { name: "AbortError" });
  });
});

describe("FakeRoom", () => {
  test("on/off/emit and the camera", async () => {
    const room = new FakeRoom();
    const got: unknown[] = [];
    const listener = (value: unknown) => got.push(value);
    room.on("e", listener);
    room.emit("e", 1);
    room.off("e", listener);
    room.emit("e", 2);
    assert.deepEqual(got, [1]);
    await room.localParticipant.setCameraEnabled(false);
    assert.equal(room.localParticipant.isCameraEnabled, false);
    assert.deepEqual(room.localParticipant.cameraCalls, [false]);
  });
});
