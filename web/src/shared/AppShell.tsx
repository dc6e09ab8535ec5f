import type { ComponentChildren } from "preact";
import { useEffect } from "preact/hooks";
import { useSignal } from "@preact/signals";
import { getVersion, type RequestOptions, type VersionInfo } from "./api";
import { APP_TITLES, type AppId } from "./apps";
import { branding } from "./branding";

export type VersionLoader = (options: RequestOptions) => Promise<VersionInfo>;

export interface AppShellProps {
  app: AppId;
  /** Defaults to the app's standard title (Patient / Doctor / Administration). */
  title?: string;
  /** Defaults to the real API call; tests pass a stub. */
  loadVersion?: VersionLoader;
  /** Shown at the end of the header (a language menu). */
  headerEnd?: ComponentChildren;
  /** Translated labels; English by default. */
  labels?: Partial<ShellLabels>;
  children?: ComponentChildren;
}

/** The shell's own words. */
export interface ShellLabels {
  /** Before #backend-version. */
  version: string;
  /** Before the message in #backend-error. */
  versionError: string;
  /** The skip link to the main content. */
  skip: string;
}

const ENGLISH_LABELS: ShellLabels = {
  version: "Backend version:",
  versionError: "Could not load the backend version:",
  skip: "Skip to main content",
};

type VersionState =
  | { status: "loading" }
  | { status: "ready"; info: VersionInfo }
  | { status: "error"; message: string };

/** Text shown in #backend-version while the version is loading. */
export const LOADING_TEXT = "…";
/** Text shown in #backend-version when the version could not be loaded. */
export const UNAVAILABLE_TEXT = "unavailable";

/**
 * The frame every app renders inside: the branding (logo, product and
 * clinic name), the app title, the backend version.
 */
export function AppShell({ app, title, loadVersion = getVersion, headerEnd, labels, children }: AppShellProps) {
  const words = { ...ENGLISH_LABELS, ...labels };
  const state = useSignal<VersionState>({ status: "loading" });

  useEffect(() => {
    const controller = new AbortController();
    state.value = { status: "loading" };
    loadVersion({ signal: controller.signal }).then(
      (info) => {
        if (!controller.signal.aborted) state.value = { status: "ready", info };
      },
      (err: unknown) => {
        if (controller.signal.aborted) return;
        const message = err instanceof Error ? err.message : String(err);
        state.value = { status: "error", message };
      },
    );
    return () => controller.abort();
  }, [loadVersion]);

  const current = state.value;
  const heading = title ?? APP_TITLES[app];
  const brand = branding.value;

  return (
    <div class="hcw-shell" data-app={app}>
      <a class="hcw-skip" href="#main">
        {words.skip}
      </a>
      <header class="hcw-header">
        <div class="hcw-brand">
          {brand.logoUrl !== null && <img class="hcw-logo" src={brand.logoUrl} alt={brand.clinicName || brand.productName} />}
          <span class="hcw-brand-name">{brand.productName}</span>
          {brand.clinicName !== "" && <span class="hcw-brand-clinic">{brand.clinicName}</span>}
        </div>
        {headerEnd !== undefined && <div class="hcw-header-end">{headerEnd}</div>}
      </header>
      <main class="hcw-main" id="main" tabIndex={-1}>
        <h1 class="hcw-title" id="page-title" tabIndex={-1}>
          {heading}
        </h1>
        {children}
      </main>
      <footer class="hcw-footer">
        <p class="hcw-version">
          {words.version}{" "}
          <span id="backend-version" aria-live="polite" aria-busy={current.status === "loading"}>
            {current.status === "ready"
              ? current.info.version
              : current.status === "loading"
                ? LOADING_TEXT
                : UNAVAILABLE_TEXT}
          </span>
          {current.status === "ready" && current.info.commit !== "" && (
            <span class="hcw-commit"> (commit {current.info.commit})</span>
          )}
        </p>
        {current.status === "error" && (
          <p id="backend-error" class="hcw-error" role="alert">
            {words.versionError} {current.message}
          </p>
        )}
      </footer>
    </div>
  );
}
