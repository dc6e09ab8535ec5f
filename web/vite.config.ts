/// <reference types="vitest/config" />
import path from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin, type UserConfig } from "vite";
import { APP_IDS, type AppId } from "./src/shared/apps";

const webDir = path.dirname(fileURLToPath(import.meta.url));

/** Where `npm run dev` sends /api and /ws. Override with HCW_BACKEND=http://host:port. */
const backend = process.env["HCW_BACKEND"] ?? "http://127.0.0.1:8080";

function isAppId(value: string): value is AppId {
  return (APP_IDS as readonly string[]).includes(value);
}

/**
 * Vite names an HTML output after its path under `root` (apps/<app>/index.html).
 * Each app's bundle must have index.html at the top of dist/<app>/, so rename it.
 */
function flattenHtml(app: AppId): Plugin {
  const from = `apps/${app}/index.html`;
  return {
    name: "hcw-flatten-html",
    apply: "build",
    enforce: "post",
    generateBundle(_options, bundle) {
      const html = bundle[from];
      if (!html) this.error(`hcw-flatten-html: ${from} not found in the bundle`);
      delete bundle[from];
      html.fileName = "index.html";
      bundle["index.html"] = html;
    },
  };
}

/**
 * One config for dev, tests and builds.
 * - `vite` (dev): serves every app at /apps/<app>/ and proxies /api and /ws to the backend.
 * - HCW_APP=<app> `vite build`: builds that app into dist/<app>/ (scripts/build.mjs does all three).
 * - `vitest run`: unit tests under src/.
 */
export default defineConfig((): UserConfig => {
  const app = process.env["HCW_APP"];
  if (app !== undefined && !isAppId(app)) {
    throw new Error(`HCW_APP=${app}: expected one of ${APP_IDS.join(", ")}`);
  }

  return {
    root: webDir,
    base: "/",
    publicDir: false,
    appType: "mpa",
    esbuild: { jsx: "automatic", jsxImportSource: "preact" },
    server: {
      host: "127.0.0.1",
      port: 5173,
      proxy: {
        "/api": { target: backend },
        "/ws": { target: backend, ws: true },
      },
    },
    preview: { host: "127.0.0.1", port: 4173 },
    build: {
      outDir: path.join(webDir, "dist", app ?? "_all"),
      emptyOutDir: true,
      assetsDir: "assets",
      // Everything as files served from 'self': no data: URLs (font-src 'self' would refuse them).
      assetsInlineLimit: 0,
      // The polyfill is an inline script, which script-src 'self' forbids.
      modulePreload: { polyfill: false },
      sourcemap: false,
      target: "es2020",
      rollupOptions: {
        // Keyed by app, so the entry chunk is assets/<app>-<hash>.js.
        input: { [app ?? "patient"]: path.join(webDir, "apps", app ?? "patient", "index.html") },
      },
    },
    plugins: app ? [flattenHtml(app)] : [],
    test: {
      include: ["src/**/*.test.{ts,tsx}"],
      environment: "node",
      restoreMocks: true,
      unstubGlobals: true,
    },
  };
});
