/**
 * The API types the web apps use, and the parsers that check the bodies
 * they rely on.
 *
 * The types come from the backend's OpenAPI document: web/openapi.json
 * (GET /api/v1/openapi.json, printed by `backend openapi`), turned into
 * src/shared/api-schema.ts by `npm run api:types` (`make api-types`) and
 * checked by `npm run api:check`. Each type here is a schema of that file,
 * as is or narrowed on purpose, never written by hand: a change of a field
 * in the backend is a type error in the apps.
 *
 * - Parsed<T>: the parsers read a JSON null as an absent field.
 * - Pick<T, ...>: the fields the app uses (the parsers keep the others out).
 * - Lenient<T, K>: fields the schema says are always sent that the parser
 *   still lets be absent (the app works without them).
 * - Narrowed<T, {...}>: a string the schema leaves open, narrowed to the
 *   values the app knows; each must be assignable to the generated field
 *   (checked at compile time). Fits<Narrow, Generated> does the same for a
 *   union standing alone.
 *
 * The parsers are the runtime check: a body that lacks what the app relies
 * on is an ApiError, not a crash further on.
 *
 * The /ws events are not in the OpenAPI document: RealtimeEvents, at the
 * end, is still written by hand from the backend's event payloads.
 */
import { MalformedBodyError, requireObject, requireString } from "./api";
import type { components } from "./api-schema";

type Schemas = components["schemas"];

// ---------------------------------------------------------------- type helpers

/** T as the parsers answer it: a field that is null in the body is absent. */
export type Parsed<T> = { [K in keyof T]: Exclude<T[K], null> };

/** T with the fields K optional: the schema says they are always sent, the parser lets them be absent. */
export type Lenient<T, K extends keyof T> = Omit<T, K> & Partial<Pick<T, K>>;

/**
 * T with the fields of N narrowed to N's types, each of which must be
 * assignable to T's field of the same name (a compile-time check).
 */
export type Narrowed<T, N extends { [K in keyof N]: K extends keyof T ? T[K] : never }> = Omit<T, keyof N> & N;

/** Narrow, checked at compile time to be assignable to the generated type Generated. */
export type Fits<Narrow extends Generated, Generated> = Narrow;

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

/** base with the fields of extra that are not undefined (checked against T: name and type). */
function withOptional<T extends object>(base: T, extra: { [K in keyof T]?: T[K] | undefined }): T {
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) (base as Record<string, unknown>)[k] = v;
  return base;
}

// ---------------------------------------------------------------- errors

/** Refusal codes of POST /api/v1/invites/redeem (consultationapi.Code*, httpapi): error.code of its answer. */
export type RedeemRefusal = Fits<
  "invite_invalid" | "invite_revoked" | "invite_expired" | "invite_too_early" | "consultation_closed" | "throttled",
  Schemas["Error"]["error"]["code"]
>;

// ---------------------------------------------------------------- invites

/**
 * redeemedBody: answer of POST /api/v1/invites/redeem (sets the session
 * cookie). role: patient, guest, interpreter or expert; language: the
 * invite's (BCP 47), which the patient app speaks from the first screen.
 */
export type Redeemed = Lenient<
  Pick<Schemas["redeemedBody"], "participant_id" | "consultation_id" | "role" | "session_expires" | "language">,
  "language"
>;

export function parseRedeemed(body: unknown): Redeemed {
  const o = requireObject(body);
  return withOptional<Redeemed>(
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
export type ConsultationStatus = Fits<"invited" | "pending" | "active" | "closed", Schemas["consultationBody"]["status"]>;

function requireStatus(o: Record<string, unknown>, key: string): ConsultationStatus {
  const s = requireString(o, key);
  if (s !== "invited" && s !== "pending" && s !== "active" && s !== "closed") {
    throw new MalformedBodyError(`expected "${key}" to be a consultation status, got "${s}"`);
  }
  return s;
}

/**
 * participationBody: GET /api/v1/participant/me. queue_name is empty for a
 * consultation with a named doctor; the feedback form shows unless
 * ask_feedback is false; feedback_token (with ask_feedback, until feedback
 * is given) authorises the feedback once the consultation has closed (the
 * session ends then), and every read answers a fresh one that replaces the
 * previous: keep the last.
 */
export type Participation = Narrowed<
  Lenient<
    Pick<
      Schemas["participationBody"],
      "participant_id" | "role" | "consultation_id" | "consultation_status" | "queue_name" | "language" | "ask_feedback" | "feedback_token"
    >,
    "language" | "ask_feedback"
  >,
  { consultation_status: ConsultationStatus }
>;

export function parseParticipation(body: unknown): Participation {
  const o = requireObject(body);
  return withOptional<Participation>(
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
    },
  );
}

/**
 * positionBody: GET /api/v1/participant/queue-position. position: 1 for the
 * next patient, absent when not waiting; estimated_start_at: sent by a
 * doctor, absent where the queue does not show estimates.
 */
export type QueuePosition = Narrowed<Parsed<Schemas["positionBody"]>, { consultation_status: ConsultationStatus }>;

export function parseQueuePosition(body: unknown): QueuePosition {
  const o = requireObject(body);
  return withOptional<QueuePosition>(
    { consultation_status: requireStatus(o, "consultation_status") },
    { position: optNumber(o, "position"), estimated_start_at: optString(o, "estimated_start_at") },
  );
}

// ---------------------------------------------------------------- chat

/** ackBody: answer of POST .../messages (seq: the message's number in its consultation, from 1 without gaps). */
export type ChatAck = Schemas["ackBody"];

export function parseChatAck(body: unknown): ChatAck {
  const o = requireObject(body);
  return {
    key: requireString(o, "key"),
    seq: requireNumber(o, "seq"),
    id: requireString(o, "id"),
    created_at: requireString(o, "created_at"),
  };
}

/** messageBody (an empty sender id is read as absent). */
export type ChatMessage = Schemas["messageBody"];

function parseChatMessage(body: unknown): ChatMessage {
  const o = requireObject(body);
  return withOptional<ChatMessage>(
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

/** messageListBody: GET .../messages?after=&limit= (more: messages after the last one exist, ask again with after = its seq). */
export type ChatMessagePage = Schemas["messageListBody"];

export function parseChatMessagePage(body: unknown): ChatMessagePage {
  const o = requireObject(body);
  const list = o["messages"];
  if (!Array.isArray(list)) throw new MalformedBodyError('expected "messages" to be an array');
  return { messages: list.map(parseChatMessage), more: optBool(o, "more") ?? false };
}

// ---------------------------------------------------------------- calls

/** A call's kind (consultation.CallKind). */
export type CallKind = Fits<"video" | "audio", Schemas["callBody"]["kind"] & Schemas["joinCallBody"]["kind"]>;

function requireKind(o: Record<string, unknown>, key: string): CallKind {
  const k = requireString(o, key);
  if (k !== "video" && k !== "audio") throw new MalformedBodyError(`expected "${key}" to be video or audio`);
  return k;
}

/** callParticipantBody (identity: u-<user id> for the doctor, p-<participant id> for a participant). */
export type CallParticipant = Parsed<Schemas["callParticipantBody"]>;

/** callBody (state: ringing, active or ended). */
export type CallInfo = Narrowed<Parsed<Schemas["callBody"]>, { kind: CallKind; participants: CallParticipant[] }>;

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

/** iceServerBody (a STUN server needs no username nor credential). */
export type IceServer = Lenient<Schemas["iceServerBody"], "username" | "credential">;

/**
 * joinCallBody: POST .../call/join. room: the consultation id; signal_url:
 * wss://<media host>/n/<node>/signal; grant: offered as the WebSocket
 * subprotocol hcw.grant.<grant>, never in a URL; sources: what the grant
 * lets this member publish (camera, microphone, screen); kind: video when
 * absent.
 */
export type JoinInfo = Narrowed<Omit<Lenient<Schemas["joinCallBody"], "sources">, "ice_servers">, { kind: CallKind }> & {
  ice_servers: IceServer[];
};

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

/**
 * sessionBody: answer of each sign-in step. level: "password" (a second
 * factor is owed) or "full"; next: "verify" (send a code) or "enrol" (set
 * up TOTP first), absent when full.
 */
export type StaffSession = Schemas["sessionBody"];

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

/** enrolmentBody: POST /auth/totp/enrolment (qr_png: PNG, base64). */
export type TotpEnrolment = Schemas["enrolmentBody"];

export function parseTotpEnrolment(body: unknown): TotpEnrolment {
  const o = requireObject(body);
  return { otpauth_uri: requireString(o, "otpauth_uri"), qr_png: requireString(o, "qr_png"), secret: requireString(o, "secret") };
}

/** enrolledBody: POST /auth/totp/confirmation. */
export type TotpEnrolled = Schemas["enrolledBody"];

export function parseTotpEnrolled(body: unknown): TotpEnrolled {
  const o = requireObject(body);
  const codes = o["recovery_codes"];
  return {
    session: parseStaffSession(o["session"]),
    recovery_codes: Array.isArray(codes) ? codes.filter((c): c is string => typeof c === "string") : [],
  };
}

/**
 * meBody: GET /me. session_idle_timeout_seconds: a session unused for this
 * long ends (the doctor app warns before).
 */
export type StaffUser = Lenient<
  Pick<Schemas["meBody"], "id" | "email" | "first_name" | "last_name" | "role" | "language" | "session_idle_timeout_seconds">,
  "language" | "session_idle_timeout_seconds"
>;

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

/** queueBody. */
export type Queue = Pick<Schemas["queueBody"], "id" | "name">;

export function parseQueueList(body: unknown): Queue[] {
  const o = requireObject(body);
  const list = o["queues"];
  if (!Array.isArray(list)) throw new MalformedBodyError('expected "queues" to be an array');
  return list.map((x) => {
    const q = requireObject(x);
    return { id: requireString(q, "id"), name: requireString(q, "name") };
  });
}

/** patientBody. */
export type ConsultationPatient = Schemas["patientBody"];

/** consultationBody, without the private note and the feedback (the doctor app's ConsultationDetail reads them). */
export type Consultation = Narrowed<Parsed<Omit<Schemas["consultationBody"], "note" | "feedback">>, { status: ConsultationStatus }>;

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

/** issuedBody: POST /invites (the link is shown this once). */
export type IssuedInvite = Omit<Schemas["issuedBody"], "invite"> & {
  invite: Pick<Schemas["inviteBody"], "id" | "consultation_id" | "status">;
};

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
 * Events on /ws by type, with their data. WRITTEN BY HAND: the WebSocket
 * events are not in the OpenAPI document, so nothing checks these against
 * the backend. Keep each next to its source: the events.PublishData calls
 * of backend/internal/consultation (payload maps), the event names of
 * backend/internal/events, and backend/internal/realtime for hello, resync,
 * error and pong. Where a payload repeats an API body (chat.ack,
 * chat.batch), the generated type is used. A participant receives the
 * events of its consultation's topic.
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
  /** A guest, interpreter or expert was invited (or an interpreter accepted a request). */
  "participant.added": { consultation_id: string; participant_id: string; role: string };
  /** To the requesting doctor; participant.added follows for the consultation. */
  "interpreter_request.accepted": { consultation_id: string; request_id: string; participant_id: string };
  "interpreter_request.expired": { consultation_id: string; request_id: string };
  /**
   * An invite was sent, failed delivery, was opened, expired, was revoked
   * or rescheduled (consultation.TypeInviteUpdated): to its creator and the
   * staff who see its consultation. Carries no status: fetch the invite
   * lists again. A redemption is told by consultation.pending (a patient)
   * or participant.added instead.
   */
  "invite.updated": { invite_id: string; consultation_id: string };
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
