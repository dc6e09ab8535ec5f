import { useRef } from "preact/hooks";
import { useSignal } from "@preact/signals";
import { ApiError } from "../shared/api";
import { keepFocus } from "../shared/focus";
import { formatDate, t } from "../shared/i18n";
import { sendFeedback, type Rating } from "./api";
import type { EndReason, PatientFlow, RefusalCode, Screen } from "./flow";

export function HomeScreen() {
  return (
    <section class="hcw-card">
      <p>{t("home.body")}</p>
      <p class="hcw-muted">{t("home.help")}</p>
    </section>
  );
}

export function BusyScreen({ text }: { text: string }) {
  return (
    <p class="hcw-busy" role="status">
      {text}
    </p>
  );
}

export function TermsScreen({ flow }: { flow: PatientFlow }) {
  const accepted = useSignal(false);
  const showError = useSignal(false);
  const box = useRef<HTMLInputElement>(null);

  const submit = (e: Event) => {
    e.preventDefault();
    if (!accepted.value) {
      showError.value = true;
      box.current?.focus();
      return;
    }
    void flow.acceptTerms();
  };

  return (
    <form class="hcw-card hcw-terms" onSubmit={submit} noValidate>
      <p>{t("terms.intro")}</p>
      <h2 class="hcw-card-title">{t("terms.heading")}</h2>
      <ul class="hcw-list">
        <li>{t("terms.item1")}</li>
        <li>{t("terms.item2")}</li>
        <li>{t("terms.item3")}</li>
      </ul>
      <div class="hcw-check">
        <input
          type="checkbox"
          id="terms-accept"
          ref={box}
          checked={accepted.value}
          required
          aria-invalid={showError.value}
          aria-describedby={showError.value ? "terms-error" : undefined}
          onChange={(e) => {
            accepted.value = e.currentTarget.checked;
            if (accepted.value) showError.value = false;
          }}
        />
        <label for="terms-accept">{t("terms.accept")}</label>
      </div>
      {showError.value && (
        <p id="terms-error" class="hcw-field-error" role="alert">
          {t("terms.required")}
        </p>
      )}
      <button type="submit" id="terms-submit" class="hcw-button hcw-button-wide">
        {t("terms.submit")}
      </button>
    </form>
  );
}

/** The title of a refusal, for the page's h1. */
export function refusalTitle(code: RefusalCode): string {
  switch (code) {
    case "invite_invalid":
      return t("refusal.invite_invalid.title");
    case "invite_revoked":
      return t("refusal.invite_revoked.title");
    case "invite_expired":
      return t("refusal.invite_expired.title");
    case "consultation_closed":
      return t("refusal.consultation_closed.title");
    case "invite_too_early":
      return t("refusal.invite_too_early.title");
    case "throttled":
      return t("refusal.throttled.title");
    case "network":
      return t("refusal.network.title");
    case "server":
      return t("refusal.server.title");
  }
}

function refusalBody(screen: Extract<Screen, { name: "refused" }>): string[] {
  switch (screen.code) {
    case "invite_invalid":
      return [t("refusal.invite_invalid.body")];
    case "invite_revoked":
      return [t("refusal.invite_revoked.body")];
    case "invite_expired":
      return [t("refusal.invite_expired.body")];
    case "consultation_closed":
      return [t("refusal.consultation_closed.body")];
    case "invite_too_early": {
      if (!screen.opensAt || Number.isNaN(Date.parse(screen.opensAt))) return [t("refusal.invite_too_early.unknown")];
      const date = formatDate(screen.opensAt, "date");
      const time = formatDate(screen.opensAt, "time");
      return [t("refusal.invite_too_early.body", { date, time }), t("refusal.invite_too_early.wait")];
    }
    case "throttled": {
      const s = screen.retryAfterSeconds;
      if (s === undefined) return [t("refusal.throttled.later")];
      return [t("refusal.throttled.body", { count: Math.max(1, Math.ceil(s / 60)) })];
    }
    case "network":
      return [t("refusal.network.body")];
    case "server":
      return [t("refusal.server.body")];
  }
}

/** One page per refusal: what happened, and what to do. */
export function RefusalScreen({ flow, screen }: { flow: PatientFlow; screen: Extract<Screen, { name: "refused" }> }) {
  const canRetry = screen.code === "network" || screen.code === "server" || screen.code === "throttled";
  return (
    <section class="hcw-card hcw-refusal" data-refusal={screen.code}>
      {refusalBody(screen).map((line, i) => (
        <p key={i}>{line}</p>
      ))}
      {canRetry && (
        <button type="button" class="hcw-button" onClick={() => void flow.retry()}>
          {t("common.retry")}
        </button>
      )}
    </section>
  );
}

function endText(reason: EndReason): string {
  switch (reason) {
    case "completed":
      return t("ended.completed");
    case "cancelled":
      return t("ended.cancelled");
    case "revoked":
      return t("ended.revoked");
    case "session_ended":
      return t("ended.session_ended");
  }
}

export function EndedScreen({ screen }: { screen: Extract<Screen, { name: "ended" }> }) {
  const p = screen.participation;
  // The backend does not say yet whether the queue asks for feedback: ask
  // unless it says no (Participation.ask_feedback).
  const ask = screen.reason === "completed" && p !== undefined && p.role === "patient" && p.ask_feedback !== false;
  return (
    <>
      <section class="hcw-card">
        <p role="status">{endText(screen.reason)}</p>
      </section>
      {ask && <FeedbackForm consultationId={p.consultation_id} />}
    </>
  );
}

type FeedbackState = "editing" | "sending" | "sent" | "failed";

export function FeedbackForm({ consultationId }: { consultationId: string }) {
  const rating = useSignal<Rating | null>(null);
  const comment = useSignal("");
  const state = useSignal<FeedbackState>("editing");
  const missing = useSignal(false);
  const first = useRef<HTMLInputElement>(null);


  if (state.value === "sent") {
    return (
      <section class="hcw-card" aria-labelledby="feedback-title">
        <h2 id="feedback-title" class="hcw-card-title" tabIndex={-1}>
          {t("feedback.title")}
        </h2>
        <p role="status" id="feedback-thanks">
          {t("feedback.thanks")}
        </p>
      </section>
    );
  }

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!rating.value) {
      missing.value = true;
      first.current?.focus();
      return;
    }
    state.value = "sending";
    try {
      await sendFeedback(consultationId, { rating: rating.value, comment: comment.value.trim() });
      state.value = "sent";
      // The form (and its button, which had the focus) is gone: to the thanks' heading.
      keepFocus("feedback-title");
    } catch (err) {
      if (!(err instanceof ApiError)) console.error(err);
      state.value = "failed";
      keepFocus("feedback-submit");
    }
  };

  const options: Array<[Rating, string]> = [
    ["good", t("feedback.good")],
    ["ok", t("feedback.ok")],
    ["bad", t("feedback.bad")],
  ];

  return (
    <form class="hcw-card hcw-feedback" aria-labelledby="feedback-title" onSubmit={submit} noValidate>
      <h2 id="feedback-title" class="hcw-card-title">
        {t("feedback.title")}
      </h2>
      <fieldset aria-describedby={missing.value ? "feedback-missing" : undefined}>
        <legend>{t("feedback.rating")}</legend>
        <div class="hcw-choices">
          {options.map(([value, label], i) => (
            <label key={value} class="hcw-choice">
              <input
                type="radio"
                id={`feedback-${value}`}
                name="rating"
                value={value}
                ref={i === 0 ? first : undefined}
                checked={rating.value === value}
                onChange={() => {
                  rating.value = value;
                  missing.value = false;
                }}
              />
              <span>{label}</span>
            </label>
          ))}
        </div>
      </fieldset>
      {missing.value && (
        <p id="feedback-missing" class="hcw-field-error" role="alert">
          {t("feedback.required")}
        </p>
      )}
      <label for="feedback-comment">{t("feedback.comment")}</label>
      <textarea
        id="feedback-comment"
        rows={3}
        maxLength={2000}
        dir="auto"
        value={comment.value}
        onInput={(e) => (comment.value = e.currentTarget.value)}
      />
      {state.value === "failed" && (
        <p class="hcw-field-error" role="alert" id="feedback-error">
          {t("feedback.error")}
        </p>
      )}
      <button type="submit" id="feedback-submit" class="hcw-button" disabled={state.value === "sending"}>
        {state.value === "sending" ? t("feedback.sending") : t("feedback.submit")}
      </button>
    </form>
  );
}
