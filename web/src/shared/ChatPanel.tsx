import { useEffect, useRef } from "preact/hooks";
import { useSignal } from "@preact/signals";
import { MAX_MESSAGE_LENGTH, type ChatItem, type ChatStore } from "./chat";
import { keepFocus } from "./focus";
import { formatDate, t } from "./i18n";

export interface ChatPanelProps {
  chat: ChatStore;
  /** Who wrote a message that is not mine ("Care team", a name). */
  senderLabel: (item: ChatItem) => string;
  /** Prefix of the element ids: <prefix>-title, -log, -input, -send (default "chat"). */
  idPrefix?: string;
  /** No more writing (the consultation is closed). */
  readOnly?: boolean;
}

function visible(): boolean {
  return globalThis.document?.visibilityState !== "hidden";
}

function Status({ item, chat }: { item: ChatItem; chat: ChatStore }) {
  if (item.status === "sending") return <span class="hcw-chat-status">{t("chat.sending")}</span>;
  if (item.status === "failed") {
    return (
      <span class="hcw-chat-status hcw-chat-failed" role="alert">
        {item.error === "consultation_closed" ? t("chat.failedClosed") : t("chat.failed")}{" "}
        {item.retryable && t("chat.willRetry")}{" "}
        <button type="button" class="hcw-link-button" onClick={() => chat.retry(item.key)}>
          {t("chat.retry")}
        </button>{" "}
        <button type="button" class="hcw-link-button" onClick={() => chat.discard(item.key)}>
          {t("chat.discard")}
        </button>
      </span>
    );
  }
  if (item.mine && item.seq !== undefined && item.seq <= chat.peerReadSeq.value) {
    return <span class="hcw-chat-status">{t("chat.read")}</span>;
  }
  return null;
}

/**
 * A consultation's chat: the history as a log (read out as it grows), and a
 * form. Enter sends, Shift+Enter breaks the line. Marks messages read while
 * the page is visible.
 */
export function ChatPanel({ chat, senderLabel, idPrefix = "chat", readOnly = false }: ChatPanelProps) {
  const id = `${idPrefix}-title`;
  const draft = useSignal("");
  const tooLong = useSignal(false);
  const logRef = useRef<HTMLDivElement>(null);
  const pinned = useRef(true);
  const items = chat.items.value;

  // Stay at the bottom while the reader is there; leave them where they are otherwise.
  useEffect(() => {
    const el = logRef.current;
    if (el && pinned.current) el.scrollTop = el.scrollHeight;
  }, [items.length]);

  useEffect(() => {
    if (visible()) void chat.markRead();
  }, [items.length, chat]);

  useEffect(() => {
    const onVisible = () => {
      if (visible()) void chat.markRead();
    };
    document.addEventListener("visibilitychange", onVisible);
    return () => document.removeEventListener("visibilitychange", onVisible);
  }, [chat]);

  const submit = (e?: Event) => {
    e?.preventDefault();
    const text = draft.value;
    if ([...text].length > MAX_MESSAGE_LENGTH) {
      tooLong.value = true;
      return;
    }
    if (chat.send(text) !== null) {
      draft.value = "";
      pinned.current = true;
      // Sent with the Send button, which an empty field disables: the focus goes back to the field.
      keepFocus(`${idPrefix}-input`);
    }
  };

  return (
    <section class="hcw-card hcw-chat" aria-labelledby={id}>
      <h2 id={id} class="hcw-card-title">
        {t("chat.title")}
      </h2>
      {chat.error.value !== null && (
        <p class="hcw-notice hcw-notice-warn" role="status">
          {t("chat.loadError")}
        </p>
      )}
      {/* The log (a live region) holds the list: a list's own role stays "list". */}
      <div
        class="hcw-chat-log"
        id={`${idPrefix}-log`}
        ref={logRef}
        role="log"
        aria-live="polite"
        aria-relevant="additions"
        aria-labelledby={id}
        tabIndex={0}
        onScroll={(e) => {
          const el = e.currentTarget;
          pinned.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
        }}
      >
        <ol class="hcw-chat-list">
          {items.length === 0 && chat.loaded.value && <li class="hcw-chat-empty">{t("chat.empty")}</li>}
          {items.map((item) => (
            <li key={item.key} class={`hcw-chat-message ${item.mine ? "hcw-chat-mine" : "hcw-chat-theirs"}`}>
              <span class="hcw-chat-meta">
                <span class="hcw-chat-sender">{item.mine ? t("chat.you") : senderLabel(item)}</span>{" "}
                <time dateTime={item.createdAt}>{formatDate(item.createdAt, "time")}</time>
              </span>
              <span class="hcw-chat-text" dir="auto">
                {item.text}
              </span>
              <Status item={item} chat={chat} />
            </li>
          ))}
        </ol>
      </div>
      {!readOnly && (
        <form class="hcw-chat-form" onSubmit={submit}>
          <label for={`${idPrefix}-input`}>{t("chat.label")}</label>
          <textarea
            id={`${idPrefix}-input`}
            rows={2}
            dir="auto"
            value={draft.value}
            aria-describedby={`${id}-hint${tooLong.value ? ` ${id}-error` : ""}`}
            aria-invalid={tooLong.value}
            onInput={(e) => {
              draft.value = e.currentTarget.value;
              tooLong.value = [...draft.value].length > MAX_MESSAGE_LENGTH;
            }}
            onKeyDown={(e) => {
              if (e.key === "Enter" && !e.shiftKey && !e.isComposing) submit(e);
            }}
          />
          <p id={`${id}-hint`} class="hcw-hint">
            {t("chat.hint")}
          </p>
          {tooLong.value && (
            <p id={`${id}-error`} class="hcw-field-error" role="alert">
              {t("chat.tooLong", { max: MAX_MESSAGE_LENGTH })}
            </p>
          )}
          <button type="submit" id={`${idPrefix}-send`} class="hcw-button" disabled={draft.value.trim() === "" || tooLong.value}>
            {t("chat.send")}
          </button>
        </form>
      )}
    </section>
  );
}
