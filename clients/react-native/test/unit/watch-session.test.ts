import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { watchSession } from "../../src/index.js";
import type { SessionView, SessionWatch, WatchSessionOptions } from "../../src/index.js";
import { harness } from "../support/client.js";
import type { Harness } from "../support/client.js";
import { errorReply, okReply } from "../support/fake-fetch.js";
import type { Reply } from "../support/fake-fetch.js";

const SESSION_ID = "77777777-7777-4777-8777-777777777777";
const GRACE = "2030-01-01T00:02:00Z";

function status(value: "live" | "host_disconnected" | "paused" | "ended", extra: Record<string, unknown> = {}): Reply {
  return okReply({ sessionId: SESSION_ID, status: value, hostLeftAt: null, endedAt: null, endReason: null, graceEndsAt: null, ...extra });
}

interface Watching extends Harness {
  watch: SessionWatch;
  views: SessionView[];
}

async function start(replies: Reply[], options: Partial<WatchSessionOptions> = {}, language?: "en"): Promise<Watching> {
  const h = harness(replies, language === undefined ? {} : { language });
  const views: SessionView[] = [];
  const watch = watchSession(h.client, SESSION_ID, { clock: h.clock, onChange: (view) => views.push(view), ...options });
  await h.clock.flush();
  return { ...h, watch, views };
}

describe("watchSession", () => {
  test("live: no overlay; polls every 5 s with the session id", async () => {
    const w = await start([status("live"), status("live"), status("live")]);
    assert.equal(w.fetch.requests.length, 1);
    assert.equal(w.fetch.requests[0]!.url, `https://api.test/live-session-status?sessionId=${SESSION_ID}`);
    assert.deepEqual(w.watch.view, {
      status: "live",
      overlay: null,
      ended: false,
      endedText: null,
      endReason: null,
      graceEndsAt: null,
      error: null,
    });
    await w.clock.advance(4999);
    assert.equal(w.fetch.requests.length, 1);
    await w.clock.advance(1);
    assert.equal(w.fetch.requests.length, 2);
    await w.clock.advance(5000);
    assert.equal(w.fetch.requests.length, 3);
    w.watch.stop();
  });

  test("onChange is not called for identical answers", async () => {
    const w = await start([status("live"), status("live"), status("live")]);
    await w.clock.advance(10_000);
    assert.equal(w.fetch.requests.length, 3);
    assert.equal(w.views.length, 1);
    w.watch.stop();
  });

  test("host_disconnected: the overlay and the faster poll; back to live: the overlay goes", async () => {
    const w = await start([status("live"), status("host_disconnected", { graceEndsAt: GRACE, hostLeftAt: "2030-01-01T00:00:00Z" }), status("live"), status("live")]);
    await w.clock.advance(5000);
    assert.equal(w.fetch.requests.length, 2);
    assert.equal(w.watch.view.status, "host_disconnected");
    assert.deepEqual(w.watch.view.overlay, { title: "Yayıncı bağlantısı koptu", subtitle: "Yeniden bağlanması bekleniyor..." });
    assert.equal(w.watch.view.graceEndsAt, GRACE);
    assert.equal(w.watch.view.ended, false);
    assert.equal(w.clock.sleeps.at(-1), 2000, "polls every 2 s while the host is away");
    await w.clock.advance(1999);
    assert.equal(w.fetch.requests.length, 2);
    await w.clock.advance(1);
    assert.equal(w.fetch.requests.length, 3);
    assert.equal(w.watch.view.status, "live");
    assert.equal(w.watch.view.overlay, null);
    assert.equal(w.watch.view.graceEndsAt, null);
    assert.equal(w.clock.sleeps.at(-1), 5000, "back to 5 s");
    assert.deepEqual(
      w.views.map((view) => [view.status, view.overlay?.title ?? null]),
      [
        ["live", null],
        ["host_disconnected", "Yayıncı bağlantısı koptu"],
        ["live", null],
      ],
    );
    w.watch.stop();
  });

  test("paused: its own overlay; English texts", async () => {
    const w = await start([status("paused", { graceEndsAt: GRACE })], {}, "en");
    assert.deepEqual(w.watch.view.overlay, { title: "The broadcast is paused", subtitle: "Waiting for the host to return..." });
    assert.equal(w.fetch.requests[0]!.headers["accept-language"], "en");
    w.watch.stop();
  });

  test("host_disconnected in English", async () => {
    const w = await start([status("host_disconnected")], {}, "en");
    assert.deepEqual(w.watch.view.overlay, { title: "The host lost connection", subtitle: "Waiting for the host to reconnect..." });
    w.watch.stop();
  });

  test("custom intervals", async () => {
    const w = await start([status("live"), status("host_disconnected"), status("host_disconnected")], { intervalMs: 1000, awayIntervalMs: 300 });
    await w.clock.advance(1000);
    assert.equal(w.fetch.requests.length, 2);
    await w.clock.advance(300);
    assert.equal(w.fetch.requests.length, 3);
    w.watch.stop();
  });

  test("ended: ended true, the end text and reason, polling stops", async () => {
    const w = await start([status("live"), status("ended", { endReason: "host_left", endedAt: "2030-01-01T00:05:00Z" }), status("live")]);
    await w.clock.advance(5000);
    assert.deepEqual(w.watch.view, {
      status: "ended",
      overlay: null,
      ended: true,
      endedText: "Yayın sona erdi",
      endReason: "host_left",
      graceEndsAt: null,
      error: null,
    });
    assert.equal(w.clock.pending, 0, "no poll is scheduled");
    await w.clock.advance(60_000);
    assert.equal(w.fetch.requests.length, 2, "no request after the end");
    assert.equal(w.views.length, 2);
  });

  for (const code of ["SESSION_NOT_FOUND", "SESSION_ENDED"]) {
    test(`${code} → ended, 'Yayın sona erdi', polling stops`, async () => {
      const w = await start([status("live"), errorReply(code === "SESSION_NOT_FOUND" ? 404 : 410, code), status("live")]);
      await w.clock.advance(5000);
      assert.equal(w.watch.view.ended, true);
      assert.equal(w.watch.view.endedText, "Yayın sona erdi");
      assert.equal(w.watch.view.overlay, null);
      assert.equal(w.watch.view.error?.code, code);
      await w.clock.advance(60_000);
      assert.equal(w.fetch.requests.length, 2);
    });
  }

  test("FORBIDDEN → ended with the server's text", async () => {
    const w = await start([errorReply(403, "FORBIDDEN")]);
    assert.equal(w.watch.view.ended, true);
    assert.equal(w.watch.view.endedText, "server text for FORBIDDEN");
    await w.clock.advance(60_000);
    assert.equal(w.fetch.requests.length, 1);
  });

  test("NETWORK_ERROR keeps the last status, sets error and keeps polling (sent once per round)", async () => {
    const w = await start([status("host_disconnected", { graceEndsAt: GRACE }), "network", "network", status("host_disconnected", { graceEndsAt: GRACE })]);
    await w.clock.advance(2000);
    assert.equal(w.fetch.requests.length, 2, "one request per round: no client retries");
    assert.equal(w.watch.view.status, "host_disconnected");
    assert.deepEqual(w.watch.view.overlay, { title: "Yayıncı bağlantısı koptu", subtitle: "Yeniden bağlanması bekleniyor..." });
    assert.equal(w.watch.view.error?.code, "NETWORK_ERROR");
    assert.equal(w.watch.view.ended, false);
    const changes = w.views.length;
    await w.clock.advance(5000);
    assert.equal(w.fetch.requests.length, 3);
    assert.equal(w.views.length, changes, "the same error again is no change");
    await w.clock.advance(5000);
    assert.equal(w.fetch.requests.length, 4);
    assert.equal(w.watch.view.error, null);
    assert.equal(w.watch.view.status, "host_disconnected");
    w.watch.stop();
  });

  test("an error's Retry-After stretches the wait", async () => {
    const w = await start([errorReply(429, "RATE_LIMITED", { retryable: true, retryAfterSeconds: 12 }), status("live")]);
    assert.equal(w.watch.view.error?.code, "RATE_LIMITED");
    assert.equal(w.watch.view.status, null);
    await w.clock.advance(11_999);
    assert.equal(w.fetch.requests.length, 1);
    await w.clock.advance(1);
    assert.equal(w.fetch.requests.length, 2);
    assert.equal(w.watch.view.status, "live");
    w.watch.stop();
  });

  test("stop() stops polling", async () => {
    const w = await start([status("live"), status("live")]);
    w.watch.stop();
    await w.clock.advance(60_000);
    assert.equal(w.fetch.requests.length, 1);
    assert.equal(w.clock.pending, 0);
  });

  test("stop() during a request aborts it and publishes nothing", async () => {
    const w = await start(["hang"]);
    assert.equal(w.fetch.requests.length, 1);
    w.watch.stop();
    await w.clock.flush();
    assert.equal(w.fetch.requests[0]!.signal.aborted, true);
    assert.deepEqual(w.views, []);
    await w.clock.advance(60_000);
    assert.equal(w.fetch.requests.length, 1);
  });
});
