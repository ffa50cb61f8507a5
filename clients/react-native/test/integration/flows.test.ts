// The flows against the real functions: a whole call between two users, the
// call's failure answers, and a viewer's watch on a broadcast.
import assert from "node:assert/strict";
import { test } from "node:test";

import { answerCall, endCall, rejectCall, startCall, watchSession } from "../../src/index.js";
import type { SessionView } from "../../src/index.js";
import { pushMode, sql, user } from "./stack.js";

test("a full call: initiate, accept, join tokens, end", async () => {
  const ayse = await user("Ayşe");
  const mehmet = await user("Mehmet");

  const started = await startCall(ayse.client, { calleeId: mehmet.id, callType: "video" });
  assert.ok(started.ok, JSON.stringify(started));
  assert.equal(started.call.status, "ringing");
  assert.equal(started.connection.role, "caller");
  assert.ok(started.connection.token.split(".").length === 3, "a JWT");

  const answered = await answerCall(mehmet.client, started.call.id);
  assert.ok(answered.ok, JSON.stringify(answered));
  assert.equal(answered.call.status, "accepted");
  assert.equal(answered.connection.role, "callee");
  assert.equal(answered.connection.roomName, started.connection.roomName);
  assert.equal(answered.connection.wsUrl, started.connection.wsUrl);

  // A second tap on "accept" answers the same room.
  const again = await answerCall(mehmet.client, started.call.id);
  assert.ok(again.ok && again.connection.roomName === started.connection.roomName);

  // Either party can fetch a fresh token while the call runs.
  const rejoin = await ayse.client.getLivekitToken({ callId: started.call.id });
  assert.ok(rejoin.ok && rejoin.data.role === "caller");

  const ended = await endCall(ayse.client, { callId: started.call.id, role: "caller" });
  assert.ok(ended.ok, JSON.stringify(ended));
  assert.equal(ended.status, "ended");
  assert.equal(ended.alreadyOver, false);
  assert.equal(ended.call?.endReason, "user_ended");

  // The other side hangs up too: the call is already over, which is fine.
  const late = await endCall(mehmet.client, { callId: started.call.id, role: "callee" });
  assert.ok(late.ok && late.alreadyOver && late.status === "ended", JSON.stringify(late));
});

test("hanging up before an answer cancels; declining rejects", async () => {
  const caller = await user("caller");
  const callee = await user("callee");
  const first = await startCall(caller.client, { calleeId: callee.id });
  assert.ok(first.ok);
  const cancelled = await endCall(caller.client, { callId: first.call.id, role: "caller" });
  assert.ok(cancelled.ok && cancelled.status === "cancelled" && !cancelled.alreadyOver, JSON.stringify(cancelled));
  // The callee's late accept learns it was cancelled.
  const tooLate = await answerCall(callee.client, first.call.id);
  assert.ok(!tooLate.ok && tooLate.reason === "cancelled", JSON.stringify(tooLate));

  const second = await startCall(caller.client, { calleeId: callee.id });
  assert.ok(second.ok, JSON.stringify(second));
  const declined = await rejectCall(callee.client, second.call.id);
  assert.ok(declined.ok && declined.status === "rejected");
});

test("startCall and answerCall name BUSY, PUSH_FAILED and CALL_EXPIRED", async () => {
  const a = await user("a");
  const b = await user("b");
  const c = await user("c");
  const ringing = await startCall(a.client, { calleeId: b.id });
  assert.ok(ringing.ok);
  const busy = await startCall(c.client, { calleeId: b.id });
  assert.ok(!busy.ok && busy.reason === "busy" && busy.error.message.length > 0);

  await sql(`UPDATE calls SET ringing_at = now() - interval '1 hour' WHERE id = '${ringing.call.id}'`);
  const expired = await answerCall(b.client, ringing.call.id);
  assert.ok(!expired.ok && expired.reason === "expired", JSON.stringify(expired));

  // A new callee: the expiry above sent B's devices a stop-ringing push after
  // its answer, and if that push meets the refusing fake, B's token is gone.
  const d = await user("d");
  await pushMode("refuse");
  try {
    const failed = await startCall(c.client, { calleeId: d.id });
    assert.ok(!failed.ok && failed.reason === "push_failed" && failed.error.retryable);
  } finally {
    await pushMode("accept");
  }
});

test("watchSession: live, the host drops (overlay), the host is back, the broadcast ends", async () => {
  const host = await user("host");
  const viewer = await user("viewer");
  const started = await host.client.liveSessionStart({ type: "video_live", title: "Akşam yayını" });
  assert.ok(started.ok, JSON.stringify(started));
  const sessionId = started.data.session.id;

  const views: SessionView[] = [];
  let wake: (() => void) | null = null;
  const watch = watchSession(viewer.client, sessionId, {
    intervalMs: 50,
    awayIntervalMs: 50,
    onChange: (view) => {
      views.push(view);
      wake?.();
    },
  });
  const until = async (check: (view: SessionView) => boolean) => {
    const deadline = Date.now() + 10_000;
    while (!views.some(check)) {
      assert.ok(Date.now() < deadline, `no such view in ${JSON.stringify(views)}`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 100);
      });
    }
  };
  try {
    await until((view) => view.status === "live");
    assert.equal(views.at(-1)?.overlay, null);

    await sql(`UPDATE live_sessions SET status = 'host_disconnected', host_left_at = now() WHERE id = '${sessionId}'`);
    await until((view) => view.status === "host_disconnected");
    const away = views.at(-1);
    assert.deepEqual(away?.overlay, { title: "Yayıncı bağlantısı koptu", subtitle: "Yeniden bağlanması bekleniyor..." });
    assert.ok(away?.graceEndsAt, "the grace's end is shown");

    await sql(`UPDATE live_sessions SET status = 'live', host_left_at = NULL WHERE id = '${sessionId}'`);
    await until((view) => view.status === "live" && views.indexOf(view) > views.indexOf(away));

    const ended = await host.client.liveSessionEnd({ sessionId });
    assert.ok(ended.ok);
    await until((view) => view.ended);
    assert.equal(views.at(-1)?.endedText, "Yayın sona erdi");
  } finally {
    watch.stop();
  }
});
