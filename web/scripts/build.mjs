// Builds every web app (or those named as arguments) into dist/<app>/ and checks
// that each index.html can run under the server's strict Content-Security-Policy.
//   node scripts/build.mjs            -> dist/patient, dist/doctor, dist/admin
//   node scripts/build.mjs doctor     -> dist/doctor only
import { readFile, readdir, rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "vite";

const APPS = ["patient", "doctor", "admin"];
const webDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const configFile = path.join(webDir, "vite.config.ts");

const requested = process.argv.slice(2);
for (const app of requested) {
  if (!APPS.includes(app)) throw new Error(`unknown app "${app}", expected one of ${APPS.join(", ")}`);
}
const apps = requested.length > 0 ? requested : APPS;

/** @param {string} app */
async function checkCsp(app) {
  const dir = path.join(webDir, "dist", app);
  const html = await readFile(path.join(dir, "index.html"), "utf8");
  const problems = [];
  for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) {
    const attrs = m[1] ?? "";
    if (!/\bsrc\s*=/.test(attrs) || (m[2] ?? "").trim() !== "") problems.push("inline <script>");
  }
  if (/<style\b/i.test(html)) problems.push("inline <style>");
  if (/\sstyle\s*=/i.test(html)) problems.push("style= attribute");
  if (/\son[a-z]+\s*=/i.test(html)) problems.push("inline event handler attribute");
  if (!/<script\b[^>]*type="module"[^>]*src="\/assets\/[^"]+\.js"/.test(html)) {
    problems.push("no module <script src=/assets/...js>");
  }
  if (!/<link\b[^>]*rel="stylesheet"[^>]*href="\/assets\/[^"]+\.css"/.test(html)) {
    problems.push("no stylesheet <link href=/assets/...css>");
  }
  const assets = await readdir(path.join(dir, "assets"));
  if (!assets.some((f) => f.endsWith(".js"))) problems.push("no .js in assets/");
  if (problems.length > 0) {
    throw new Error(`dist/${app}/index.html breaks the CSP rules: ${problems.join(", ")}`);
  }
}

if (requested.length === 0) await rm(path.join(webDir, "dist"), { recursive: true, force: true });

for (const app of apps) {
  process.env["HCW_APP"] = app;
  console.log(`\n== building ${app} -> dist/${app}/`);
  await build({ configFile, logLevel: "info" });
  await checkCsp(app);
}
console.log(`\nbuilt: ${apps.map((a) => `dist/${a}/`).join(" ")}`);
