/**
 * The admin screens' common parts: the API's refusals as text, an action
 * with its live outcome, moving the focus, and a field's own error next to
 * it. The inline confirmations are ../shared/confirm's, as in the doctor app.
 */
import { useSignal, type Signal } from "@preact/signals";
import { t } from "../shared/i18n";
import { ErrorLine as SharedErrorLine } from "../shared/signin";
import { failureOf, type Failure } from "./models";

/** The texts of a form's fields when the API says one is invalid (invalid_request with that field). */
export type FieldTexts = Readonly<Record<string, () => string>>;

/** The admin app's error texts; null for the codes the sign-in's texts cover. */
export function adminErrorText(code: string, field?: string, fields?: FieldTexts): string | null {
  switch (code) {
    case "invalid_date":
      return t("admin.error.invalidDate");
    case "reversed":
      return t("admin.error.reversed");
    case "too_long":
      return t("admin.error.tooLong");
    case "forbidden":
      return t("admin.error.forbidden");
    case "unauthenticated":
      return t("admin.error.unauthenticated");
    case "not_found":
      return t("admin.error.notFound");
    case "email_taken":
      return t("admin.error.emailTaken");
    case "last_admin":
      return t("admin.error.lastAdmin");
    case "invalid_transition":
      return t("admin.error.invalidTransition");
    case "organisation_name_taken":
      return t("admin.error.organisationTaken");
    case "invalid_request": {
      const own = field ? fields?.[field] : undefined;
      return own ? own() : t("admin.error.invalidRequest");
    }
    default:
      return null;
  }
}

export function ErrorLine({ code, field, id, fields }: { code: string | null; field?: string | undefined; id?: string; fields?: FieldTexts }) {
  return <SharedErrorLine code={code} id={id} more={(c) => adminErrorText(c, field, fields)} />;
}

export function FailureLine({ failure, id, fields }: { failure: Failure | null; id?: string; fields?: FieldTexts }) {
  return <ErrorLine code={failure?.code ?? null} field={failure?.field} id={id} fields={fields} />;
}

/** One action at a time: busy while it runs, then the API's refusal or a message to announce. */
export interface Action {
  busy: Signal<boolean>;
  failure: Signal<Failure | null>;
  done: Signal<string | null>;
  /** Runs fn; its string is announced. False when it failed. */
  run: (fn: () => Promise<string | void>) => Promise<boolean>;
}

export function useAction(): Action {
  const busy = useSignal(false);
  const failure = useSignal<Failure | null>(null);
  const done = useSignal<string | null>(null);
  const run = async (fn: () => Promise<string | void>) => {
    busy.value = true;
    failure.value = null;
    done.value = null;
    try {
      const msg = await fn();
      if (msg) done.value = msg;
      return true;
    } catch (err) {
      failure.value = failureOf(err);
      return false;
    } finally {
      busy.value = false;
    }
  };
  return { busy, failure, done, run };
}

/** The live region of an action: its error, or what it did. */
export function Outcome({ action, id, fields }: { action: Action; id: string; fields?: FieldTexts }) {
  return (
    <div aria-live="polite" id={id}>
      <FailureLine failure={action.failure.value} fields={fields} />
      {action.done.value && <p class="hcw-notice hcw-notice-ok">{action.done.value}</p>}
    </div>
  );
}

/** Focuses the element id once the screen is updated, or fallback when that element is gone. */
export function refocus(id: string, fallback?: string): void {
  setTimeout(() => {
    const el = document.getElementById(id) ?? (fallback ? document.getElementById(fallback) : null);
    el?.focus();
  }, 0);
}

/** The attributes of a field that the failure may be about: invalid, described by its error. */
export function invalidProps(failure: Failure | null, field: string, errorId: string, hint?: string) {
  const bad = failure?.code === "invalid_request" && failure.field === field;
  const describedBy = [hint, bad ? errorId : undefined].filter((s) => s !== undefined).join(" ");
  return { "aria-invalid": bad ? ("true" as const) : undefined, "aria-describedby": describedBy || undefined };
}

/** A field's own error text, next to it, when the failure is about that field. */
export function FieldError({ failure, field, id, fields }: { failure: Failure | null; field: string; id: string; fields: FieldTexts }) {
  if (failure?.code !== "invalid_request" || failure.field !== field) return null;
  const text = fields[field]?.() ?? t("admin.error.invalidRequest");
  return (
    <p id={id} class="hcw-field-error">
      {text}
    </p>
  );
}
