import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { PUSH_KINDS_BY_PLATFORM, PushTokenRegistrar, registerPushTokens } from "../../src/index.js";
import type { FetchLike, PushKind, PushKindOutcome, PushPlatform, PushRegistrationReport, PushTokens } from "../../src/index.js";
import { harness } from "../support/client.js";
import { FakeFetch, errorReply, okReply } from "../support/fake-fetch.js";
import type { RecordedRequest, Reply } from "../support/fake-fetch.js";

const EXPO = "ExponentPushToken[abc]";
const VOIP = "8f1c0e5d9a7b3c2e1f4d6a8b0c9e7f5a3b1d2c4e6f8a0b9c7d5e3f1a2b4c6d8e";
const FCM = "fcm:APA91bH-token";
const UPDATED_AT = "2030-01-01T00:00:00Z";

/** A fetch that answers each kind from its own queue, so that the kinds'
 * concurrent requests do not depend on the order they are sent in. */
class KindRouter {
  readonly fakes: Record<PushKind, FakeFetch> = { expo: new FakeFetch(), apns_voip: new FakeFetch(), fcm: new FakeFetch() };
  /** /push-token-unregister, whatever the kind. */
  readonly unregister = new FakeFetch();

  reply(kind: PushKind, ...replies: Reply[]): this {
    this.fakes[kind].reply(...replies);
    return this;
  }

  readonly fetch: FetchLike = (url, init) => {
    if (url.endsWith("/push-token-unregister")) return this.unregister.fetch(url, init);
    const body = JSON.parse(init.body ?? "{}") as { kind?: PushKind };
    return this.fakes[body.kind ?? "expo"].fetch(url, init);
  };

  requests(kind: PushKind): RecordedRequest[] {
    return this.fakes[kind].requests;
  }

  /** How many requests each kind got. */
  counts(): Record<PushKind, number> {
    return { expo: this.requests("expo").length, apns_voip: this.requests("apns_voip").length, fcm: this.requests("fcm").length };
  }
}

function registered(platform: PushPlatform, kind: PushKind): Reply {
  return okReply({ token: { platform, kind, updatedAt: UPDATED_AT } });
}

/** The server did not have the token: it was new, or had been dropped. */
function created(platform: PushPlatform, kind: PushKind): Reply {
  return okReply({ token: { platform, kind, updatedAt: UPDATED_AT, created: true } });
}

function setup() {
  const router = new KindRouter();
  const h = harness([], { fetch: router.fetch });
  return { router, h };
}

function outcomes(report: PushRegistrationReport): Record<PushKind, string> {
  const name = (outcome: PushKindOutcome) =>
    outcome.outcome === "skipped" ? `skipped:${outcome.reason}` : outcome.outcome === "failed" ? `failed:${outcome.error.code}` : outcome.outcome;
  return { expo: name(report.kinds.expo), apns_voip: name(report.kinds.apns_voip), fcm: name(report.kinds.fcm) };
}

describe("registerPushTokens", () => {
  test("iOS: the Expo token (no kind: the default) and the VoIP token; FCM is not iOS's", async () => {
    const { router, h } = setup();
    router.reply("expo", registered("ios", "expo")).reply("apns_voip", registered("ios", "apns_voip"));
    const report = await h.clock.settle(registerPushTokens(h.client, "ios", { expo: EXPO, apns_voip: VOIP, fcm: FCM }));
    assert.deepEqual(report, {
      ok: true,
      kinds: {
        expo: { outcome: "registered", updatedAt: UPDATED_AT },
        apns_voip: { outcome: "registered", updatedAt: UPDATED_AT },
        fcm: { outcome: "skipped", reason: "other_platform" },
      },
    });
    assert.deepEqual(router.requests("expo").map((request) => request.body), [{ token: EXPO, platform: "ios" }]);
    assert.deepEqual(router.requests("apns_voip").map((request) => request.body), [{ token: VOIP, platform: "ios", kind: "apns_voip" }]);
    assert.deepEqual(router.counts(), { expo: 1, apns_voip: 1, fcm: 0 });
    for (const request of [...router.requests("expo"), ...router.requests("apns_voip")]) {
      assert.equal(request.url, "https://api.test/push-token-register");
      assert.equal(request.method, "POST");
      assert.equal(request.headers["authorization"], "Bearer token-1");
    }
  });

  test("Android: the Expo token and the FCM token; a VoIP token is not Android's", async () => {
    const { router, h } = setup();
    router.reply("expo", registered("android", "expo")).reply("fcm", registered("android", "fcm"));
    const report = await h.clock.settle(registerPushTokens(h.client, "android", { expo: EXPO, apns_voip: VOIP, fcm: FCM }));
    assert.deepEqual(outcomes(report), { expo: "registered", apns_voip: "skipped:other_platform", fcm: "registered" });
    assert.deepEqual(router.requests("fcm").map((request) => request.body), [{ token: FCM, platform: "android", kind: "fcm" }]);
    assert.deepEqual(router.counts(), { expo: 1, apns_voip: 0, fcm: 1 });
  });

  test("web: Expo only, and FCM when the app has it", async () => {
    const { router, h } = setup();
    router.reply("expo", registered("web", "expo"), registered("web", "expo")).reply("fcm", registered("web", "fcm"));
    const expoOnly = await h.clock.settle(registerPushTokens(h.client, "web", { expo: EXPO }));
    assert.deepEqual(outcomes(expoOnly), { expo: "registered", apns_voip: "skipped:other_platform", fcm: "skipped:no_token" });
    const both = await h.clock.settle(registerPushTokens(h.client, "web", { expo: EXPO, fcm: FCM }));
    assert.deepEqual(outcomes(both), { expo: "registered", apns_voip: "skipped:other_platform", fcm: "registered" });
    assert.deepEqual(router.requests("fcm")[0]!.body, { token: FCM, platform: "web", kind: "fcm" });
  });

  const missing: Array<[name: string, token: string | null | undefined]> = [
    ["undefined", undefined],
    ["null", null],
    ["empty", ""],
    ["blank", " \t\n"],
  ];
  for (const [name, token] of missing) {
    test(`a ${name} token is skipped as no_token, and nothing is sent for it`, async () => {
      const { router, h } = setup();
      router.reply("expo", registered("ios", "expo"));
      const report = await h.clock.settle(registerPushTokens(h.client, "ios", { expo: EXPO, apns_voip: token }));
      assert.deepEqual(outcomes(report), { expo: "registered", apns_voip: "skipped:no_token", fcm: "skipped:other_platform" });
      assert.equal(report.ok, true);
      assert.deepEqual(router.counts(), { expo: 1, apns_voip: 0, fcm: 0 });
    });
  }

  test("no token at all: nothing sent, ok", async () => {
    const { router, h } = setup();
    const report = await h.clock.settle(registerPushTokens(h.client, "android", {}));
    assert.deepEqual(outcomes(report), { expo: "skipped:no_token", apns_voip: "skipped:other_platform", fcm: "skipped:no_token" });
    assert.equal(report.ok, true);
    assert.deepEqual(router.counts(), { expo: 0, apns_voip: 0, fcm: 0 });
  });

  test("a token is sent unchanged (the server validates it)", async () => {
    const { router, h } = setup();
    router.reply("expo", registered("ios", "expo"));
    await h.clock.settle(registerPushTokens(h.client, "ios", { expo: " ExponentPushToken[x] " }));
    assert.equal(router.requests("expo")[0]!.rawBody, JSON.stringify({ token: " ExponentPushToken[x] ", platform: "ios" }));
  });

  test("one kind refused does not stop the other; the report says which", async () => {
    const { router, h } = setup();
    router
      .reply("expo", registered("ios", "expo"))
      .reply("apns_voip", errorReply(400, "INVALID_REQUEST", { field: "kind", details: "apns_voip is for ios only" }));
    const report = await h.clock.settle(registerPushTokens(h.client, "ios", { expo: EXPO, apns_voip: VOIP }));
    assert.equal(report.ok, false);
    assert.deepEqual(outcomes(report), { expo: "registered", apns_voip: "failed:INVALID_REQUEST", fcm: "skipped:other_platform" });
    const voip = report.kinds.apns_voip;
    assert.equal(voip.outcome === "failed" && voip.error.context.field, "kind");
    assert.deepEqual(router.counts(), { expo: 1, apns_voip: 1, fcm: 0 });
  });

  test("a kind the network keeps failing is retried by the client's policy, then reported; the other registers", async () => {
    const { router, h } = setup();
    router.reply("expo", registered("android", "expo")).reply("fcm", "network", "network", "network", "network");
    const report = await h.clock.settle(registerPushTokens(h.client, "android", { expo: EXPO, fcm: FCM }));
    assert.deepEqual(outcomes(report), { expo: "registered", apns_voip: "skipped:other_platform", fcm: "failed:NETWORK_ERROR" });
    const fcm = report.kinds.fcm;
    assert.equal(fcm.outcome === "failed" && fcm.error.attempts, 4);
    assert.deepEqual(router.counts(), { expo: 1, apns_voip: 0, fcm: 4 });
  });

  test("an answer without updatedAt is registered with null", async () => {
    const { router, h } = setup();
    router.reply("expo", okReply({ token: {} }));
    const report = await h.clock.settle(registerPushTokens(h.client, "ios", { expo: EXPO }));
    assert.deepEqual(report.kinds.expo, { outcome: "registered", updatedAt: null });
  });

  test("the platforms' kinds are the server's rule: apns_voip only on ios, fcm only on android and web", () => {
    assert.deepEqual(PUSH_KINDS_BY_PLATFORM, { ios: ["expo", "apns_voip"], android: ["expo", "fcm"], web: ["expo", "fcm"] });
  });
});

describe("PushTokenRegistrar", () => {
  function registrar(platform: PushPlatform = "ios") {
    const { router, h } = setup();
    return { router, h, registrar: new PushTokenRegistrar(h.client, { platform }) };
  }

  test("sends each token once: the same tokens again are unchanged, and nothing is sent", async () => {
    const { router, h, registrar: r } = registrar();
    router.reply("expo", registered("ios", "expo")).reply("apns_voip", registered("ios", "apns_voip"));
    const first = await h.clock.settle(r.update({ expo: EXPO, apns_voip: VOIP }));
    assert.deepEqual(outcomes(first), { expo: "registered", apns_voip: "registered", fcm: "skipped:other_platform" });
    const again = await h.clock.settle(r.update({ expo: EXPO, apns_voip: VOIP }));
    assert.deepEqual(outcomes(again), { expo: "unchanged", apns_voip: "unchanged", fcm: "skipped:other_platform" });
    assert.equal(again.ok, true);
    assert.deepEqual(router.counts(), { expo: 1, apns_voip: 1, fcm: 0 });
  });

  test("a token that changes is registered again, alone", async () => {
    const { router, h, registrar: r } = registrar();
    router.reply("expo", registered("ios", "expo")).reply("apns_voip", registered("ios", "apns_voip"), registered("ios", "apns_voip"));
    await h.clock.settle(r.update({ expo: EXPO, apns_voip: VOIP }));
    const changed = await h.clock.settle(r.update({ apns_voip: "new-voip-token" }));
    assert.deepEqual(outcomes(changed), { expo: "unchanged", apns_voip: "registered", fcm: "skipped:other_platform" });
    assert.deepEqual(
      router.requests("apns_voip").map((request) => (request.body as { token: string }).token),
      [VOIP, "new-voip-token"],
    );
    assert.deepEqual(router.counts(), { expo: 1, apns_voip: 2, fcm: 0 });
  });

  test("tokens arrive one at a time (a kind left out or undefined keeps its token)", async () => {
    const { router, h, registrar: r } = registrar("android");
    router.reply("expo", registered("android", "expo")).reply("fcm", registered("android", "fcm"));
    const expoFirst = await h.clock.settle(r.update({ expo: EXPO, fcm: undefined }));
    assert.deepEqual(outcomes(expoFirst), { expo: "registered", apns_voip: "skipped:other_platform", fcm: "skipped:no_token" });
    const fcmLater = await h.clock.settle(r.update({ fcm: FCM }));
    assert.deepEqual(outcomes(fcmLater), { expo: "unchanged", apns_voip: "skipped:other_platform", fcm: "registered" });
    const undefinedKeeps = await h.clock.settle(r.update({ expo: undefined, fcm: undefined }));
    assert.deepEqual(outcomes(undefinedKeeps), { expo: "unchanged", apns_voip: "skipped:other_platform", fcm: "unchanged" });
    assert.deepEqual(router.counts(), { expo: 1, apns_voip: 0, fcm: 1 });
  });

  test("a failed kind is sent again by the next update, the registered one is not", async () => {
    const { router, h, registrar: r } = registrar();
    router
      .reply("expo", registered("ios", "expo"))
      .reply("apns_voip", errorReply(400, "INVALID_REQUEST", { field: "token" }), registered("ios", "apns_voip"));
    const first = await h.clock.settle(r.update({ expo: EXPO, apns_voip: VOIP }));
    assert.deepEqual(outcomes(first), { expo: "registered", apns_voip: "failed:INVALID_REQUEST", fcm: "skipped:other_platform" });
    const retry = await h.clock.settle(r.update());
    assert.deepEqual(outcomes(retry), { expo: "unchanged", apns_voip: "registered", fcm: "skipped:other_platform" });
    assert.deepEqual(router.counts(), { expo: 1, apns_voip: 2, fcm: 0 });
  });

  test("null drops a token (nothing sent); the same token back is registered again", async () => {
    const { router, h, registrar: r } = registrar();
    router.reply("apns_voip", registered("ios", "apns_voip"), registered("ios", "apns_voip"));
    await h.clock.settle(r.update({ apns_voip: VOIP }));
    const dropped = await h.clock.settle(r.update({ apns_voip: null }));
    assert.deepEqual(outcomes(dropped), { expo: "skipped:no_token", apns_voip: "skipped:no_token", fcm: "skipped:other_platform" });
    const back = await h.clock.settle(r.update({ apns_voip: VOIP }));
    assert.deepEqual(outcomes(back), { expo: "skipped:no_token", apns_voip: "registered", fcm: "skipped:other_platform" });
    assert.deepEqual(router.counts(), { expo: 0, apns_voip: 2, fcm: 0 });
  });

  test("reset (another user signed in) sends every token again", async () => {
    const { router, h, registrar: r } = registrar();
    router.reply("expo", registered("ios", "expo"), registered("ios", "expo")).reply("apns_voip", registered("ios", "apns_voip"), registered("ios", "apns_voip"));
    await h.clock.settle(r.update({ expo: EXPO, apns_voip: VOIP }));
    r.reset();
    const after = await h.clock.settle(r.update());
    assert.deepEqual(outcomes(after), { expo: "registered", apns_voip: "registered", fcm: "skipped:other_platform" });
    assert.deepEqual(router.counts(), { expo: 2, apns_voip: 2, fcm: 0 });
  });

  test("a registration answered after reset does not count for the new user", async () => {
    const router = new KindRouter();
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    // The access token arrives only when the test says: the request is under way meanwhile.
    const h = harness([], { fetch: router.fetch, getAccessToken: async () => (await gate, "token-1") });
    const r = new PushTokenRegistrar(h.client, { platform: "ios" });
    router.reply("expo", registered("ios", "expo"), registered("ios", "expo"));
    const inFlight = r.update({ expo: EXPO });
    await h.clock.flush();
    r.reset();
    release();
    const first = await h.clock.settle(inFlight);
    assert.equal(first.kinds.expo.outcome, "registered");
    const next = await h.clock.settle(r.update());
    assert.equal(next.kinds.expo.outcome, "registered");
    assert.equal(router.counts().expo, 2);
  });

  test("updates run one after another: two at once send a token once", async () => {
    const { router, h, registrar: r } = registrar("android");
    router.reply("expo", registered("android", "expo")).reply("fcm", registered("android", "fcm"));
    const tokens: PushTokens = { expo: EXPO, fcm: FCM };
    const [first, second] = await h.clock.settle(Promise.all([r.update(tokens), r.update(tokens)]));
    assert.deepEqual(outcomes(first), { expo: "registered", apns_voip: "skipped:other_platform", fcm: "registered" });
    assert.deepEqual(outcomes(second), { expo: "unchanged", apns_voip: "skipped:other_platform", fcm: "unchanged" });
    assert.deepEqual(router.counts(), { expo: 1, apns_voip: 0, fcm: 1 });
  });

  test("a token that changes while its first registration is under way is sent by the first one run", async () => {
    const { router, h, registrar: r } = registrar("android");
    router.reply("fcm", registered("android", "fcm"));
    const [first, second] = await h.clock.settle(Promise.all([r.update({ fcm: "old" }), r.update({ fcm: FCM })]));
    // The first run starts after both updates took their tokens: it sends the newest.
    assert.equal(first.kinds.fcm.outcome, "registered");
    assert.equal(second.kinds.fcm.outcome, "unchanged");
    assert.deepEqual(router.requests("fcm").map((request) => (request.body as { token: string }).token), [FCM]);
  });

  test("a new registrar (the app started again) registers every token again", async () => {
    const { router, h } = setup();
    router.reply("expo", registered("ios", "expo"), registered("ios", "expo")).reply("apns_voip", registered("ios", "apns_voip"), registered("ios", "apns_voip"));
    await h.clock.settle(new PushTokenRegistrar(h.client, { platform: "ios" }).update({ expo: EXPO, apns_voip: VOIP }));
    const restarted = await h.clock.settle(new PushTokenRegistrar(h.client, { platform: "ios" }).update({ expo: EXPO, apns_voip: VOIP }));
    assert.deepEqual(outcomes(restarted), { expo: "registered", apns_voip: "registered", fcm: "skipped:other_platform" });
    assert.deepEqual(router.counts(), { expo: 2, apns_voip: 2, fcm: 0 });
  });

  test("a registration older than confirmAfterMs is sent again; the server's created says it had dropped the device", async () => {
    const { router, h } = setup();
    const r = new PushTokenRegistrar(h.client, { platform: "ios", clock: h.clock, confirmAfterMs: 60_000 });
    router
      .reply("expo", created("ios", "expo"), registered("ios", "expo"))
      .reply("apns_voip", created("ios", "apns_voip"), created("ios", "apns_voip"));
    const first = await h.clock.settle(r.update({ expo: EXPO, apns_voip: VOIP }));
    assert.deepEqual(outcomes(first), { expo: "registered", apns_voip: "registered", fcm: "skipped:other_platform" }, "a first registration is not a restoration");
    await h.clock.advance(59_999);
    const soon = await h.clock.settle(r.update());
    assert.deepEqual(outcomes(soon), { expo: "unchanged", apns_voip: "unchanged", fcm: "skipped:other_platform" });
    await h.clock.advance(1);
    const later = await h.clock.settle(r.update());
    // The server still had the Expo token; it had dropped the VoIP one (created), which is back now.
    assert.deepEqual(outcomes(later), { expo: "registered", apns_voip: "restored", fcm: "skipped:other_platform" });
    assert.deepEqual(later.kinds.apns_voip, { outcome: "restored", updatedAt: UPDATED_AT });
    assert.equal(later.ok, true);
    assert.deepEqual(router.counts(), { expo: 2, apns_voip: 2, fcm: 0 });
    const after = await h.clock.settle(r.update());
    assert.deepEqual(outcomes(after), { expo: "unchanged", apns_voip: "unchanged", fcm: "skipped:other_platform" });
  });

  test("signOut unregisters every token of the device, then the next user's update registers them again", async () => {
    const { router, h } = setup();
    const r = new PushTokenRegistrar(h.client, { platform: "android" });
    router.reply("expo", registered("android", "expo"), registered("android", "expo")).reply("fcm", registered("android", "fcm"), registered("android", "fcm"));
    router.unregister.reply(okReply(), okReply());
    await h.clock.settle(r.update({ expo: EXPO, fcm: FCM }));
    const signedOut = await h.clock.settle(r.signOut());
    assert.deepEqual(signedOut, {
      ok: true,
      kinds: { expo: { outcome: "unregistered" }, apns_voip: { outcome: "skipped", reason: "no_token" }, fcm: { outcome: "unregistered" } },
    });
    const sent = router.unregister.requests;
    assert.deepEqual(sent.map((request) => request.body).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))), [{ token: EXPO }, { token: FCM }].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))));
    for (const request of sent) {
      assert.equal(request.url, "https://api.test/push-token-unregister");
      assert.equal(request.method, "POST");
      assert.equal(request.headers["authorization"], "Bearer token-1");
    }
    const nextUser = await h.clock.settle(r.update());
    assert.deepEqual(outcomes(nextUser), { expo: "registered", apns_voip: "skipped:other_platform", fcm: "registered" });
  });

  test("signOut waits for an update under way, and reports a kind that failed", async () => {
    const { router, h } = setup();
    const r = new PushTokenRegistrar(h.client, { platform: "ios" });
    router.reply("apns_voip", registered("ios", "apns_voip"));
    router.unregister.reply(errorReply(400, "INVALID_REQUEST", { field: "token" }));
    const [update, signedOut] = await h.clock.settle(Promise.all([r.update({ apns_voip: VOIP }), r.signOut()]));
    assert.equal(update.kinds.apns_voip.outcome, "registered");
    assert.equal(signedOut.ok, false);
    const voip = signedOut.kinds.apns_voip;
    assert.equal(voip.outcome === "failed" && voip.error.code, "INVALID_REQUEST");
    assert.deepEqual(signedOut.kinds.expo, { outcome: "skipped", reason: "no_token" });
    assert.deepEqual(router.unregister.requests.map((request) => request.body), [{ token: VOIP }]);
  });
});
