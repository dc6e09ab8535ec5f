/**
 * Pieces of the signed-in workspace around the views: the section menu,
 * the sound-alert switch and the idle-timeout warning.
 */
import { useEffect, useRef } from "preact/hooks";
import { formatDate, t } from "../shared/i18n";
import type { ArrivalAlert } from "./alerts";
import type { IdleWatch } from "./idle";

export type WorkspaceView = "dashboard" | "history" | "security";

export function WorkspaceNav({ view, onChange }: { view: WorkspaceView; onChange: (v: WorkspaceView) => void }) {
  const item = (v: WorkspaceView, label: string) => (
    <li>
      <button
        type="button"
        id={`nav-${v}`}
        class={`hcw-nav-item${view === v ? " hcw-nav-current" : ""}`}
        aria-current={view === v ? "page" : undefined}
        onClick={() => onChange(v)}
      >
        {label}
      </button>
    </li>
  );
  return (
    <nav class="hcw-nav" aria-label={t("doctor.navLabel")}>
      <ul>
        {item("dashboard", t("doctor.dashboardTitle"))}
        {item("history", t("doctor.historyNav"))}
        {item("security", t("doctor.securityTitle"))}
      </ul>
    </nav>
  );
}

export function SoundToggle({ alert }: { alert: ArrivalAlert }) {
  return (
    <div class="hcw-sound">
      <div class="hcw-check">
        <input
          id="sound-alerts"
          type="checkbox"
          checked={!alert.muted.value}
          aria-describedby="sound-alerts-hint"
          onChange={(e) => alert.setMuted(!e.currentTarget.checked)}
        />
        <label for="sound-alerts">{t("doctor.soundAlerts")}</label>
      </div>
      <p id="sound-alerts-hint" class="hcw-hint">
        {alert.blocked.value && !alert.muted.value ? t("doctor.soundBlocked") : t("doctor.soundHint")}
      </p>
    </div>
  );
}

/** The warning before the idle sign-out, read out when it appears (aria-live). */
export function IdleWarning({ watch }: { watch: IdleWatch }) {
  const phase = watch.phase.value;
  const button = useRef<HTMLButtonElement>(null);
  const warning = phase.name === "warning";
  useEffect(() => {
    if (warning) button.current?.focus();
  }, [warning]);
  return (
    <div class="hcw-idle-region" aria-live="assertive" aria-atomic="true" id="idle-live">
      {phase.name === "warning" && (
        <div class="hcw-notice hcw-notice-warn hcw-idle" id="idle-warning" role="group" aria-labelledby="idle-text">
          <p id="idle-text">{t("doctor.idleWarning", { time: formatDate(phase.deadline, "time") })}</p>
          {watch.failed.value && (
            <p class="hcw-field-error" id="idle-error">
              {t("doctor.error.network")}
            </p>
          )}
          <button ref={button} type="button" id="idle-stay" class="hcw-button" disabled={watch.staying.value} onClick={() => void watch.stay()}>
            {t("doctor.staySignedIn")}
          </button>
        </div>
      )}
    </div>
  );
}
