/**
 * Shapes of the backend API and of the /ws events the web apps use.
 *
 * HAND-WRITTEN, from backend/internal/consultationapi/*.go and
 * backend/internal/consultation/*.go (event payloads). This is the one place
 * the types generated from the backend's OpenAPI document (GET
 * /api/v1/openapi.json) will go, once the backend can print that document
 * without a database (a `backend openapi` subcommand). Until then, keep each
 * type next to the Go struct it mirrors (named in its comment) and add only
 * what an app uses.
 *
 * The parsers check what the apps rely on and keep unknown fields out.
 */
import { MalformedBodyError, requireObject, requireString } from "./api";

// ---------------------------------------------------------------- helpers

function optString(obj: Record<string, unknown>, key: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw new MalformedBodyError(`expected "${key}" to be a string`);
  return v;
}

function requireNumber(obj: Record<string, unknown>, key: string): number {
  const v = obj[key];
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new MalformedBodyError(`expected "${key}" to be a number`);
  }
  return v;
}

function optNumber(obj: Record<string, unknown>, key: string): number | undefined {
  return obj[key] === undefined || obj[key] === null ? undefined : requireNumber(obj, key);
}

function optBool(obj: Record<string, unknown>, key: string): boolean | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw new MalformedBodyError(`expected "${key}" to be a boolean`);
  return v;
}

function withOptional<T extends object>(base: T, extra: Record<string, unknown>): T {
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) (base as Record<string, unknown>)[k] = v;
  return base;
}

// ---------------------------------------------------------------- errors

/** Refusal codes of POST /api/v1/invites/redeem (consultationapi.Code*, httpapi). */
export type RedeemRefusal =
  | "invite_invalid"
  | "invite_revoked"
  | "invite_expired"
  | "invite_too_early"
  | "consultation_closed"
  | "throttled";

// ---------------------------------------------------------------- invites

/** consultationapi.redeemedBody: answer of POST /api/v1/invites/redeem (sets the session cookie). */
export interface Redeemed {
  participant_id: string;
  consultation_id: string;
  /** patient, guest, interpreter or expert. */
  role: string;
  /** RFC 3339; the session also ends when the consultation closes. */
  session_expires: string;
  /**
   * The invite's language (BCP 47). NOT SENT YET by the backend: asked for,
   * so the patient app can speak the invite's language from the first screen.
   */
  language?: string;
}

export function parseRedeemed(body: unknown): Redeemed {
  const o = requireObject(body);
  return withOptional(
    {
      participant_id: requireString(o, "participant_id"),
      consultation_id: requireString(o, "consultation_id"),
      role: requireString(o, "role"),
      session_expires: requireString(o, "session_expires"),
    },
    { language: optString(o, "language") },
  );
}

// ---------------------------------------------------------------- participant

/** Status of a consultation (consultation.Status). */
export type ConsultationStatus = "invited" | "pending" | "active" | "closed";

function requireStatus(o: Record<string, unknown>, key: string): ConsultationStatus {
  const s = requireString(o, key);
  if (s !== "invited" && s !== "pending" && s !== "active" && s !== "closed") {
    throw new MalformedBodyError(`expected "${key}" to be a consultation status, got "${s}"`);
  }
  return s;
}

/** consultationapi.participationBody: GET /api/v1/participant/me. */
export interface Participation {
  participant_id: string;
  role: string;
  consultation_id: string;
  consultation_status: ConsultationStatus;
  /** Empty for a consultation with a named doctor. */
  queue_name?: string;
  /** NOT SENT YET: the participant's language (asked for; see Redeemed.language). */
  language?: string;
  /** NOT SENT YET: the queue's ask_feedback switch (asked for; the form shows while unknown). */
  ask_feedback?: boolean;
  /** NOT SENT YET: the queue's show_estimated_time switch. */
  show_estimated_time?: boolean;
}

export function parseParticipation(body: unknown): Participation {
  const o = requireObject(body);
  return withOptional(
    {
      participant_id: requireString(o, "participant_id"),
      role: requireString(o, "role"),
      consultation_id: requireString(o, "consultation_id"),
      consultation_status: requireStatus(o, "consultation_status"),
    },
    {
      queue_name: optString(o, "queue_name"),
      language: optString(o, "language"),
      ask_feedback: optBool(o, "ask_feedback"),
      show_estimated_time: optBool(o, "show_estimated_time"),
    },
  );
}

/** consultationapi.positionBody: GET /api/v1/participant/queue-position. */
export interface QueuePosition {
  consultation_status: ConsultationStatus;
  /** 1 for the next patient; absent when not waiting. */
  position?: number;
  /** RFC 3339, sent by a doctor. */
  estimated_start_at?: string;
}

export function parseQueuePosition(body: unknown): QueuePosition {
  const o = requireObject(body);
  return withOptional(
    { consultation_status: requireStatus(o, "consultation_status") },
    { position: optNumber(o, "position"), estimated_start_at: optString(o, "estimated_start_at") },
  );
}

// ---------------------------------------------------------------- chat

/** consultationapi.ackBody: answer of POST .../messages. */
export interface ChatAck {
  key: string;
  /** The message's number in its consultation, from 1 without gaps. */
  seq: number;
  id: string;
  created_at: string;
}

export function parseChatAck(body: unknown): ChatAck {
  const o = requireObject(body);
  return {
    key: requireString(o, "key"),
    seq: requireNumber(o, "seq"),
    id: requireString(o, "id"),
    created_at: requireString(o, "created_at"),
  };
}

/** consultationapi.messageBody. */
export interface ChatMessage {
  id: string;
  seq: number;
  sender_participant_id?: string;
  sender_user_id?: string;
  key: string;
  text: string;
  created_at: string;
}

function parseChatMessage(body: unknown): ChatMessage {
  const o = requireObject(body);
  return withOptional(
    {
      id: requireString(o, "id"),
      seq: requireNumber(o, "seq"),
      key: requireString(o, "key", true),
      text: requireString(o, "text", true),
      created_at: requireString(o, "created_at"),
    },
    {
      sender_participant_id: optString(o, "sender_participant_id") || undefined,
      sender_user_id: optString(o, "sender_user_id") || undefined,
    },
  );
}

/** consultationapi.messageListBody: GET .../messages?after=&limit=. */
export interface ChatMessagePage {
  messages: ChatMessage[];
  /** Messages after the last one exist: ask again with after = its seq. */
  more: boolean;
}

export function parseChatMessagePage(body: unknown): ChatMessagePage {
  const o = requireObject(body);
  const list = o["messages"];
  if (!Array.isArray(list)) throw new MalformedBodyError('expected "messages" to be an array');
  return { messages: list.map(parseChatMessage), more: optBool(o, "more") ?? false };
}

// ---------------------------------------------------------------- /ws events

/**
 * Events on /ws by type, with their data (backend/internal/consultation:
 * events.PublishData calls; backend/internal/realtime for hello and resync).
 * A participant receives those of its consultation's topic.
 */
export interface RealtimeEvents {
  hello: { server: string; version: string };
  /** The server may have missed events: refetch what is shown. */
  resync: undefined;
  error: { code: string; field?: string; message?: string };
  pong: undefined;
  "consultation.pending": { consultation_id: string; queue_id: string };
  "consultation.accepted": { consultation_id: string; doctor_id: string; accepted_at: string };
  "consultation.estimate": { consultation_id: string; start_at: string };
  "consultation.transferred": { consultation_id: string; queue_id: string; doctor_id: string };
  "consultation.closed": { consultation_id: string; reason: "completed" | "cancelled" | string };
  "queue.changed": { queue_id?: string; doctor_id?: string };
  /** Sent to each waiting consultation's topic when its queue changes. */
  "queue.position": { position: number };
  "participant.presence": { consultation_id: string; participant_id: string; online: boolean };
  "participant.revoked": { consultation_id: string; participant_id: string };
  /** Carries no text: fetch the messages after the last seq held. */
  "chat.message": { consultation_id: string; seq: number };
  /** One of participant_id or user_id names the reader. */
  "chat.read": { consultation_id: string; seq: number; participant_id?: string; user_id?: string };
  "chat.ack": ChatAck;
  "chat.batch": ChatMessagePage;
  "chat.read_ok": { seq: number };
}

export type RealtimeEventType = keyof RealtimeEvents;
