// Writes src/generated/openapi.ts from the service's openapi.yaml (the
// contract), or with --check fails when the committed file is stale.
import { readFile, writeFile } from "node:fs/promises";
import openapiTS, { astToString } from "openapi-typescript";

const spec = new URL("../../../openapi.yaml", import.meta.url);
const target = new URL("../src/generated/openapi.ts", import.meta.url);

export async function render() {
  const ast = await openapiTS(spec);
  return "// Generated from openapi.yaml by `npm run generate`. Do not edit.\n\n" + astToString(ast);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const text = await render();
  if (process.argv.includes("--check")) {
    const committed = await readFile(target, "utf8").catch(() => "");
    if (committed !== text) {
      console.error("src/generated/openapi.ts is stale: run `npm run generate`");
      process.exit(1);
    }
  } else {
    await writeFile(target, text);
  }
}
