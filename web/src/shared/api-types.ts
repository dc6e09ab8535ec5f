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
  /** The queue's ask_feedback switch (the form shows unless it is false). */
  ask_feedback?: boolean;
  /**
   * With ask_feedback, until feedback is given: the token that authorises
   * the feedback once the consultation has closed (the session ends then).
   * Every read answers a fresh one that replaces the previous: keep the last.
   */
  feedback_token?: string;
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
      feedback_token: optString(o, "feedback_token"),
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

// ---------------------------------------------------------------- calls

/** A call's kind (consultation.CallKind). */
export type CallKind = "video" | "audio";

function requireKind(o: Record<string, unknown>, key: string): CallKind {
  const k = requireString(o, key);
  if (k !== "video" && k !== "audio") throw new MalformedBodyError(`expected "${key}" to be video or audio`);
  return k;
}

/** consultationapi.callParticipantBody. */
export interface CallParticipant {
  /** u-<user id> for the doctor, p-<participant id> for a participant. */
  identity: string;
  role: string;
  accepted_at?: string;
  declined_at?: string;
  joined_at?: string;
  left_at?: string;
}

/** consultationapi.callBody. */
export interface CallInfo {
  id: string;
  consultation_id: string;
  started_by: string;
  kind: CallKind;
  /** ringing, active or ended. */
  state: string;
  started_at: string;
  answered_at?: string;
  ended_at?: string;
  end_reason?: string;
  participants: CallParticipant[];
}

export function parseCallInfo(body: unknown): CallInfo {
  const o = requireObject(body);
  const list = o["participants"];
  const participants = Array.isArray(list)
    ? list.map((x) => {
        const p = requireObject(x);
        return withOptional<CallParticipant>(
          { identity: requireString(p, "identity"), role: requireString(p, "role", true) },
          {
            accepted_at: optString(p, "accepted_at"),
            declined_at: optString(p, "declined_at"),
            joined_at: optString(p, "joined_at"),
            left_at: optString(p, "left_at"),
          },
        );
      })
    : [];
  return withOptional<CallInfo>(
    {
      id: requireString(o, "id"),
      consultation_id: requireString(o, "consultation_id"),
      started_by: requireString(o, "started_by", true),
      kind: requireKind(o, "kind"),
      state: requireString(o, "state"),
      started_at: requireString(o, "started_at"),
      participants,
    },
    {
      answered_at: optString(o, "answered_at"),
      ended_at: optString(o, "ended_at"),
      end_reason: optString(o, "end_reason"),
    },
  );
}

/** consultationapi.currentCallBody: GET .../call. */
export function parseCurrentCall(body: unknown): CallInfo | null {
  const o = requireObject(body);
  return o["call"] === null || o["call"] === undefined ? null : parseCallInfo(o["call"]);
}

/** consultationapi.iceServerBody. */
export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

/** consultationapi.joinCallBody: POST .../call/join. */
export interface JoinInfo {
  call_id: string;
  kind: CallKind;
  /** The consultation id. */
  room: string;
  node: string;
  /** wss://<media host>/n/<node>/signal */
  signal_url: string;
  /** Offered as the WebSocket subprotocol hcw.grant.<grant>, never in a URL. */
  grant: string;
  grant_expires_at: string;
  /** What the grant lets this member publish (camera, microphone, screen). */
  sources?: string[];
  ice_servers: IceServer[];
}

export function parseJoinInfo(body: unknown): JoinInfo {
  const o = requireObject(body);
  const servers = o["ice_servers"];
  const ice_servers: IceServer[] = Array.isArray(servers)
    ? servers.map((x) => {
        const s = requireObject(x);
        const urls = s["urls"];
        if (!Array.isArray(urls) || !urls.every((u) => typeof u === "string")) {
          throw new MalformedBodyError('expected "urls" to be an array of strings');
        }
        return withOptional<IceServer>({ urls: urls as string[] }, {
          username: optString(s, "username"),
          credential: optString(s, "credential"),
        });
      })
    : [];
  const kind = o["kind"] === undefined ? "video" : requireKind(o, "kind");
  const info: JoinInfo = {
    call_id: requireString(o, "call_id"),
    kind,
    room: requireString(o, "room"),
    node: requireString(o, "node"),
    signal_url: requireString(o, "signal_url"),
    grant: requireString(o, "grant"),
    grant_expires_at: requireString(o, "grant_expires_at"),
    ice_servers,
  };
  const sources = o["sources"];
  if (sources !== undefined && sources !== null) {
    if (!Array.isArray(sources) || !sources.every((x) => typeof x === "string")) {
      throw new MalformedBodyError('expected "sources" to be an array of strings');
    }
    info.sources = sources as string[];
  }
  return info;
}

// ---------------------------------------------------------------- staff

/** staffapi.sessionBody: answer of each sign-in step. */
export interface StaffSession {
  /** "password" (a second factor is owed) or "full". */
  level: string;
  /** "verify" (send a code) or "enrol" (set up TOTP first); absent when full. */
  next?: string;
  user_id: string;
  role: string;
  expires_at: string;
}

export function parseStaffSession(body: unknown): StaffSession {
  const o = requireObject(body);
  return withOptional<StaffSession>(
    {
      level: requireString(o, "level"),
      user_id: requireString(o, "user_id"),
      role: requireString(o, "role"),
      expires_at: requireString(o, "expires_at"),
    },
    { next: optString(o, "next") || undefined },
  );
}

/** staffapi.enrolmentBody: POST /auth/totp/enrolment. */
export interface TotpEnrolment {
  otpauth_uri: string;
  /** PNG, base64. */
  qr_png: string;
  secret: string;
}

export function parseTotpEnrolment(body: unknown): TotpEnrolment {
  const o = requireObject(body);
  return { otpauth_uri: requireString(o, "otpauth_uri"), qr_png: requireString(o, "qr_png"), secret: requireString(o, "secret") };
}

/** staffapi.enrolledBody: POST /auth/totp/confirmation. */
export interface TotpEnrolled {
  session: StaffSession;
  recovery_codes: string[];
}

export function parseTotpEnrolled(body: unknown): TotpEnrolled {
  const o = requireObject(body);
  const codes = o["recovery_codes"];
  return {
    session: parseStaffSession(o["session"]),
    recovery_codes: Array.isArray(codes) ? codes.filter((c): c is string => typeof c === "string") : [],
  };
}

/** staffapi.userBody: GET /me. */
export interface StaffUser {
  id: string;
  email: string;
  first_name: string;
  last_name: string;
  role: string;
  language?: string;
  /** GET /me only: a session unused for this long ends (the doctor app warns before). */
  session_idle_timeout_seconds?: number;
}

export function parseStaffUser(body: unknown): StaffUser {
  const o = requireObject(body);
  return withOptional<StaffUser>(
    {
      id: requireString(o, "id"),
      email: requireString(o, "email"),
      first_name: requireString(o, "first_name", true),
      last_name: requireString(o, "last_name", true),
      role: requireString(o, "role"),
    },
    {
      language: optString(o, "language") || undefined,
      session_idle_timeout_seconds: optNumber(o, "session_idle_timeout_seconds"),
    },
  );
}

/** consultationapi.queueBody. */
export interface Queue {
  id: string;
  name: string;
}

export function parseQueueList(body: unknown): Queue[] {
  const o = requireObject(body);
  const list = o["queues"];
  if (!Array.isArray(list)) throw new MalformedBodyError('expected "queues" to be an array');
  return list.map((x) => {
    const q = requireObject(x);
    return { id: requireString(q, "id"), name: requireString(q, "name") };
  });
}

/** consultationapi.patientBody. */
export interface ConsultationPatient {
  participant_id: string;
  first_name: string;
  last_name: string;
  language: string;
  online: boolean;
}

/** consultationapi.consultationBody. */
export interface Consultation {
  id: string;
  queue_id?: string;
  doctor_id?: string;
  status: ConsultationStatus;
  close_reason?: string;
  created_at: string;
  waiting_since?: string;
  accepted_at?: string;
  closed_at?: string;
  estimated_start_at?: string;
  patient?: ConsultationPatient;
}

export function parseConsultation(body: unknown): Consultation {
  const o = requireObject(body);
  const p = o["patient"];
  let patient: ConsultationPatient | undefined;
  if (p !== undefined && p !== null) {
    const q = requireObject(p);
    patient = {
      participant_id: requireString(q, "participant_id"),
      first_name: requireString(q, "first_name", true),
      last_name: requireString(q, "last_name", true),
      language: requireString(q, "language", true),
      online: optBool(q, "online") ?? false,
    };
  }
  return withOptional<Consultation>(
    { id: requireString(o, "id"), status: requireStatus(o, "status"), created_at: requireString(o, "created_at") },
    {
      queue_id: optString(o, "queue_id"),
      doctor_id: optString(o, "doctor_id"),
      close_reason: optString(o, "close_reason"),
      waiting_since: optString(o, "waiting_since"),
      accepted_at: optString(o, "accepted_at"),
      closed_at: optString(o, "closed_at"),
      estimated_start_at: optString(o, "estimated_start_at"),
      patient,
    },
  );
}

export function parseConsultationList(body: unknown): Consultation[] {
  const o = requireObject(body);
  const list = o["consultations"];
  if (!Array.isArray(list)) throw new MalformedBodyError('expected "consultations" to be an array');
  return list.map(parseConsultation);
}

/** consultationapi.issuedBody: POST /invites. */
export interface IssuedInvite {
  invite: { id: string; consultation_id: string; status: string };
  /** Shown this once. */
  link: string;
}

export function parseIssuedInvite(body: unknown): IssuedInvite {
  const o = requireObject(body);
  const i = requireObject(o["invite"]);
  return {
    invite: { id: requireString(i, "id"), consultation_id: requireString(i, "consultation_id"), status: requireString(i, "status", true) },
    link: requireString(o, "link"),
  };
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
  "call.ringing": { consultation_id: string; call_id: string; kind: CallKind; started_by: string; started_at: string };
  /** participant: the media identity (u-<user id>, p-<participant id>). */
  "call.accepted": { consultation_id: string; call_id: string; participant: string; role: string };
  "call.declined": { consultation_id: string; call_id: string; participant: string; role: string };
  /** reason: hung_up, declined, no_answer, max_duration, consultation_closed, consultation_transferred. */
  "call.ended": { consultation_id: string; call_id: string; reason: string };
}

export type RealtimeEventType = keyof RealtimeEvents;
