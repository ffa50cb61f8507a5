import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { ROUTES, routesMatchTheContract, SERVER_ERROR_CODES, everyServerCodeIsListed } from "../../src/index.js";

// This file runs from build/test/unit/: the package root is three levels up.
const PACKAGE_ROOT = new URL("../../../", import.meta.url);
const GENERATOR = new URL("scripts/generate-openapi-types.mjs", PACKAGE_ROOT);
const GENERATED = new URL("src/generated/openapi.ts", PACKAGE_ROOT);
const SPEC = new URL("../../openapi.yaml", PACKAGE_ROOT);

interface Generator {
  render(): Promise<string>;
}

/** The `enum:` list of a top-level schema in the components section. */
function schemaEnum(yaml: string, schema: string): string[] {
  const block = new RegExp(`^ {4}${schema}:\\n {6}type: string\\n {6}enum:\\n((?: {8}- [A-Z_]+\\n)+)`, "m").exec(yaml);
  assert.ok(block?.[1] !== undefined, `components.schemas.${schema} has an enum list`);
  return [...block[1].matchAll(/- ([A-Z_]+)/g)].map((match) => match[1]!);
}

describe("the contract", () => {
  test("src/generated/openapi.ts is what openapi.yaml generates (else: run `npm run generate`)", async () => {
    const generator = (await import(GENERATOR.href)) as Generator;
    const expected = await generator.render();
    const committed = await readFile(GENERATED, "utf8");
    assert.ok(committed === expected, "src/generated/openapi.ts is stale: run `npm run generate`");
  });

  test("SERVER_ERROR_CODES equals the ErrorCode enum of openapi.yaml, in order", async () => {
    const yaml = await readFile(SPEC, "utf8");
    const codes = schemaEnum(yaml, "ErrorCode");
    assert.ok(codes.length > 20, `parsed ${codes.length} codes`);
    assert.deepEqual([...SERVER_ERROR_CODES], codes);
  });

  test("the compile-time checks hold", () => {
    assert.equal(routesMatchTheContract, true);
    assert.equal(everyServerCodeIsListed, true);
  });

  test("every app route is in openapi.yaml with its method", async () => {
    const yaml = await readFile(SPEC, "utf8");
    for (const [operation, route] of Object.entries(ROUTES)) {
      const pattern = new RegExp(`^  ${route.path.replace(/[/.-]/g, "\\$&")}:\\n    ${route.method.toLowerCase()}:\\n      operationId: ${operation}\\n`, "m");
      assert.match(yaml, pattern, operation);
    }
  });
});
