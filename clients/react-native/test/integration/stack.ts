// The stack the integration tests run against: the real functions served by
// the devhost (or real Spin, with `E2E_RUNTIME=spin`) on a fresh database,
// with a fake LiveKit and a fake push provider (`cargo xtask up --fakes`,
// which `cargo xtask test` starts), and its control API for what a test
// stages (users, back-dating, outages).
import { createFunctionsClient } from "../../src/index.js";
import type { FunctionsClient, FunctionsClientOptions } from "../../src/index.js";

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") {
    throw new Error(`${name} is not set: run these tests through \`cargo xtask test\` (or against \`cargo xtask up --fakes\`)`);
  }
  return value;
}

export const BASE_URL = required("KIT_BASE_URL");
const CONTROL_URL = required("KIT_CONTROL_URL");

async function control(path: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(CONTROL_URL + path, { method: "POST", body: JSON.stringify(body) });
  const answer = (await response.json()) as Record<string, unknown>;
  if (response.status !== 200) throw new Error(`control ${path}: ${JSON.stringify(answer)}`);
  return answer;
}

export interface TestUser {
  id: string;
  token: string;
  client: FunctionsClient;
}

/** A new user (with a push device unless `device: false`) and a client for them. */
export async function user(
  name: string,
  options: { device?: boolean; client?: Partial<FunctionsClientOptions> } = {},
): Promise<TestUser> {
  const created = await control("/users", { name, device: options.device ?? true });
  const id = String(created["id"]);
  const token = String(created["token"]);
  return { id, token, client: clientFor(token, options.client) };
}

/** A client that presents `token`; retries on a short clock unless told otherwise. */
export function clientFor(token: string, overrides: Partial<FunctionsClientOptions> = {}): FunctionsClient {
  return createFunctionsClient({
    baseUrl: BASE_URL,
    getAccessToken: () => token,
    retry: { baseDelayMs: 10, maxDelayMs: 40 },
    ...overrides,
  });
}

export async function sql(statement: string): Promise<void> {
  await control("/sql", { sql: statement });
}

export async function pushMode(mode: "accept" | "refuse" | "hang"): Promise<void> {
  await control("/push", { mode });
}

export async function databaseReachable(reachable: boolean): Promise<void> {
  await control("/database", { reachable });
}

/**
 * Options for a test that needs our host (its body limit, its request
 * timeout): on real Spin (`E2E_RUNTIME=spin`, see `tests/src/spin.rs`)
 * node:test reports it skipped, with the reason.
 */
export function devhostOnly(reason: string): { skip?: string } {
  return process.env["E2E_RUNTIME"] === "spin" ? { skip: `skipped on spin: ${reason}` } : {};
}
