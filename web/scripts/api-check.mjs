// Fails when src/shared/api-schema.ts is not what openapi-typescript makes
// of openapi.json (the backend's document, refreshed by `make api-types`):
// the apps' API types must never drift from the API.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dir = mkdtempSync(join(tmpdir(), "hcw-api-"));
try {
  const out = join(dir, "api-schema.ts");
  execFileSync("npx", ["openapi-typescript", "openapi.json", "-o", out], { stdio: ["ignore", "ignore", "inherit"] });
  const want = readFileSync(out, "utf8");
  const have = readFileSync("src/shared/api-schema.ts", "utf8");
  if (want !== have) {
    console.error("src/shared/api-schema.ts is out of date with openapi.json: run `make api-types` and commit the result.");
    process.exit(1);
  }
  console.log("API types match openapi.json");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
