// A function that cannot be reached is NETWORK_ERROR "Bağlantı hatası",
// after the retries on the routes that are safe to resend.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createServer } from "node:net";
import type { Server } from "node:net";
import { test } from "node:test";

import { createFunctionsClient } from "../../src/index.js";
import type { AttemptReport } from "../../src/index.js";
import { user } from "./stack.js";

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** A port where a server was, now closed: connections are refused. */
async function stoppedServerUrl(): Promise<string> {
  const server = createServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

test("a stopped server: NETWORK_ERROR after 3 retries with growing waits", async () => {
  const someone = await user("offline user");
  const reports: AttemptReport[] = [];
  const client = createFunctionsClient({
    baseUrl: await stoppedServerUrl(),
    getAccessToken: () => someone.token,
    retry: { baseDelayMs: 20, maxDelayMs: 200 },
    onAttempt: (report) => reports.push(report),
  });
  const result = await client.getLivekitToken({ sessionId: randomUUID() });
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.error.code, "NETWORK_ERROR");
  assert.equal(result.error.message, "Bağlantı hatası");
  assert.equal(result.error.httpStatus, null);
  assert.equal(result.error.retryable, true);
  assert.equal(result.error.attempts, 4);
  const waits = reports.map((report) => report.retryInMs);
  assert.equal(waits.length, 4);
  assert.equal(waits[3], null);
  // Equal jitter: each wait is in [half, all] of 20, 40, 80 ms.
  [20, 40, 80].forEach((full, i) => {
    const wait = waits[i] ?? -1;
    assert.ok(wait >= full / 2 && wait <= full, `wait ${i}: ${wait} ms`);
  });

  const english = await client.getLivekitToken({ sessionId: randomUUID() }, { language: "en", retry: false });
  assert.ok(!english.ok && english.error.message === "Connection error" && english.error.attempts === 1);
});

test("a stopped server: call-initiate is not resent (it may have rung)", async () => {
  const caller = await user("caller");
  const client = createFunctionsClient({ baseUrl: await stoppedServerUrl(), getAccessToken: () => caller.token });
  const result = await client.callInitiate({ calleeId: randomUUID() });
  assert.ok(!result.ok && result.error.code === "NETWORK_ERROR" && result.error.attempts === 1);
});

test("a server that never answers: a timeout is NETWORK_ERROR", async () => {
  const someone = await user("patient user");
  const sockets = new Set<import("node:net").Socket>();
  const silent = createServer((socket) => sockets.add(socket));
  const port = await listen(silent);
  try {
    const client = createFunctionsClient({
      baseUrl: `http://127.0.0.1:${port}`,
      getAccessToken: () => someone.token,
      timeoutMs: 150,
      retry: { baseDelayMs: 10, maxDelayMs: 20 },
    });
    const started = Date.now();
    const result = await client.liveSessionStatus({ sessionId: randomUUID() });
    assert.ok(!result.ok && result.error.code === "NETWORK_ERROR", JSON.stringify(result));
    assert.equal(result.error.attempts, 4);
    assert.ok(Date.now() - started >= 4 * 150, "each attempt waited for its timeout");
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
});
