/**
 * The inline confirmation of the staff apps (doctor and admin): "Close the
 * consultation?", "Delete the passkey?", … A role="alertdialog" that is
 * named by its title and described by its text; when it opens, the focus
 * goes to its safe choice (cancel), Escape cancels, and when it closes the
 * focus goes back to the button that opened it (or, when that one is gone
 * or disabled, to a fallback such as the section's heading), unless the
 * user has put the focus somewhere else meanwhile.
 */
import { useEffect, useRef } from "preact/hooks";
import { focusFirst, focusLost } from "./focus";
import { t } from "./i18n";
import "./staff.css";

export interface ConfirmProps {
  /** The dialog's id; its parts' ids derive from it (`<id>-title`, `-text`, `-yes`, `-no`) unless ids says otherwise. */
  id: string;
  /** Its name (aria-labelledby), short: "Close the consultation". */
  title: string;
  /** What confirming does (aria-describedby). */
  text: string;
  /** The confirm button's text: "Yes, close it". */
  yes: string;
  /** The cancel button's text (default "Cancel"). */
  no?: string;
  /** Makes the confirm button inert while an action runs (aria-disabled: it keeps the focus). */
  busy?: boolean;
  /** The confirm button's look: danger (default) for what cannot be undone. */
  tone?: "danger" | "primary";
  onYes: () => void;
  /** Cancel, or Escape. */
  onNo: () => void;
  /** The id of the button that opened the dialog: the focus goes back to it. */
  returnFocus: string;
  /** Where the focus goes when that button is gone or disabled (an element with tabIndex -1, say). */
  fallbackFocus?: string | undefined;
  /** Other ids for the parts (the apps' tests and the browser tests know them). */
  ids?: Partial<Record<"title" | "text" | "yes" | "no", string>>;
}

export function Confirm(props: ConfirmProps) {
  const { id, title, text, yes, no = t("common.cancel"), busy = false, tone = "danger", onYes, onNo, ids = {} } = props;
  const box = useRef<HTMLDivElement>(null);
  const cancel = useRef<HTMLButtonElement>(null);
  // The latest ids, for the clean-up of the first render.
  const latest = useRef(props);
  latest.current = props;
  const titleId = ids.title ?? `${id}-title`;
  const textId = ids.text ?? `${id}-text`;

  useEffect(() => {
    cancel.current?.focus();
    return () => {
      // Still in the page: the focus is in the dialog (or was lost) only if the user did not move it.
      const active = document.activeElement;
      if (!focusLost() && !(active && box.current?.contains(active))) return;
      const { returnFocus, fallbackFocus } = latest.current;
      // After the update that removed the dialog (the opener may come back with it).
      setTimeout(() => {
        if (focusLost()) focusFirst(returnFocus, fallbackFocus);
      }, 0);
    };
  }, []);

  return (
    <div
      ref={box}
      id={id}
      class="hcw-notice hcw-notice-warn"
      role="alertdialog"
      aria-labelledby={titleId}
      aria-describedby={textId}
      onKeyDown={(e) => {
        if (e.key === "Escape") {
          e.preventDefault();
          e.stopPropagation();
          onNo();
        }
      }}
    >
      <p id={titleId} class="hcw-confirm-title">
        {title}
      </p>
      <p id={textId}>{text}</p>
      <div class="hcw-actions">
        {/* Busy is aria-disabled, not disabled: a disabled button drops the focus it has (the user just pressed it),
            and whatever changes next on the page (a call ending with the consultation) would take it. */}
        <button
          type="button"
          id={ids.yes ?? `${id}-yes`}
          class={tone === "danger" ? "hcw-button hcw-button-danger" : "hcw-button"}
          aria-disabled={busy ? "true" : undefined}
          onClick={() => {
            if (!busy) onYes();
          }}
        >
          {yes}
        </button>
        <button ref={cancel} type="button" id={ids.no ?? `${id}-no`} class="hcw-button hcw-button-secondary" onClick={onNo}>
          {no}
        </button>
      </div>
    </div>
  );
}
