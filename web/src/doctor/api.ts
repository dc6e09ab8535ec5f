/**
 * The doctor app's calls to the API (session cookie, same origin):
 * staffapi (sign-in, TOTP, setup links, me) and consultationapi (queues,
 * waiting lists, consultations, invites, chat, calls).
 */
import { getJson, listBody, objectBody, requestJson, requireObject } from "../shared/api";
import type { components } from "../shared/api-schema";
import {
  type Fits,
  type Narrowed,
  parseChatAck,
  parseChatMessagePage,
  parseConsultation,
  parseConsultationList,
  parseIssuedInvite,
  parseQueueList,
  parseStaffSession,
  parseStaffUser,
  parseTotpEnrolled,
  parseTotpEnrolment,
  type Consultation,
  type IssuedInvite,
  type Queue,
  type StaffSession,
  type StaffUser,
  type TotpEnrolled,
  type TotpEnrolment,
} from "../shared/api-types";
import { callApi, type CallApi } from "../shared/call-session";
import type { ChatTransport } from "../shared/chat";

const enc = encodeURIComponent;

/** POST /auth/sign-in: the password step; the session then owes a second factor (level "password"). */
export function signIn(email: string, password: string): Promise<StaffSession> {
  const body: Schemas["signInRequest"] = { email, password };
  return requestJson("POST", "/auth/sign-in", parseStaffSession, { body });
}

/** POST /auth/second-factor: a TOTP or recovery code. */
export function secondFactor(code: string): Promise<StaffSession> {
  const body: Schemas["codeRequest"] = { code };
  return requestJson("POST", "/auth/second-factor", parseStaffSession, { body });
}

/** POST /auth/totp/enrolment: a new secret and its QR code. */
export function beginEnrolment(): Promise<TotpEnrolment> {
  return requestJson("POST", "/auth/totp/enrolment", parseTotpEnrolment);
}

/** POST /auth/totp/confirmation: one code confirms; ten recovery codes come back once. */
export function confirmEnrolment(code: string): Promise<TotpEnrolled> {
  const body: Schemas["codeRequest"] = { code };
  return requestJson("POST", "/auth/totp/confirmation", parseTotpEnrolled, { body });
}

/** POST /auth/password: a setup or reset link's token and the new password. */
export function setPasswordWithToken(token: string, purpose: Fits<"setup" | "reset", Schemas["setPasswordRequest"]["purpose"]>, password: string): Promise<void> {
  const body: Schemas["setPasswordRequest"] = { token, purpose, password };
  return requestJson("POST", "/auth/password", null, { body });
}

export function getMe(): Promise<StaffUser> {
  return getJson("/me", parseStaffUser);
}

export function signOut(): Promise<void> {
  return requestJson("POST", "/auth/sign-out", null);
}

export function myQueues(): Promise<Queue[]> {
  return getJson("/queues", parseQueueList);
}

/** GET /queues/{id}/consultations: the waiting list, longest waiting first. */
export function waitingList(queueId: string): Promise<Consultation[]> {
  return getJson(`/queues/${enc(queueId)}/consultations`, parseConsultationList);
}

/** GET /consultations?status=: my own consultations in a status. */
export function myConsultations(status: "pending" | "active" | "closed"): Promise<Consultation[]> {
  return getJson(`/consultations?status=${status}&limit=50`, parseConsultationList);
}

export function getConsultation(id: string): Promise<Consultation> {
  return getJson(`/consultations/${enc(id)}`, parseConsultation);
}

export function acceptConsultation(id: string): Promise<Consultation> {
  return requestJson("POST", `/consultations/${enc(id)}/accept`, parseConsultation);
}

export function closeConsultation(id: string): Promise<Consultation> {
  return requestJson("POST", `/consultations/${enc(id)}/close`, parseConsultation);
}

/** createInviteRequest as the doctor app sends it: to a queue, by link or e-mail. */
export type NewInvite = Narrowed<
  Pick<Schemas["createInviteRequest"], "first_name" | "last_name" | "email" | "language" | "queue_id" | "delivery">,
  { queue_id: string; delivery: "link" | "email" }
>;

/** POST /invites: the consultation and its link, shown once. */
export function createInvite(invite: NewInvite): Promise<IssuedInvite> {
  return requestJson("POST", "/invites", parseIssuedInvite, { body: invite });
}

/** The chat of a consultation, as its doctor. */
export function doctorChat(consultationId: string): ChatTransport {
  const base = `/consultations/${enc(consultationId)}/messages`;
  return {
    send: (key, text) => requestJson("POST", base, parseChatAck, { body: { key, text } satisfies Schemas["sendMessageRequest"] }),
    list: (after, limit) => getJson(`${base}?after=${after}&limit=${limit}`, parseChatMessagePage),
    markRead: (seq) => requestJson("POST", `${base}/read`, null, { body: { seq } satisfies Schemas["markReadRequest"] }),
  };
}

/** The call operations of a consultation, as its doctor. */
export function doctorCallApi(consultationId: string): CallApi {
  return callApi(`/consultations/${enc(consultationId)}/call`);
}

// ---------------------------------------------------------------- consultation tools, history, invites
// (The passkey routes are in ../shared/passkey, for the admin app too.)
// Shapes from the generated OpenAPI types (src/shared/api-schema.ts).

type Schemas = components["schemas"];
export type ConsultationRecord = Schemas["consultationBody"];
export type Feedback = Schemas["feedbackBody"];
export type Participant = Schemas["participantBody"];
export type NewParticipant = Schemas["addParticipantRequest"];
export type IssuedParticipantInvite = Schemas["issuedBody"];
export type InviteRecord = Schemas["inviteBody"];
export type InterpreterOrganisation = Schemas["organisationBody"];
export type InterpreterRequest = Schemas["interpreterRequestBody"];
export type TransferTarget = Schemas["transferRequest"];
export type Colleague = Schemas["colleagueBody"];
export type SessionRecord = Schemas["sessionBody"];
/** A consultation as the doctor reads it: the parsed fields, plus the private note and the feedback. */
export type ConsultationDetail = Consultation & Pick<ConsultationRecord, "note" | "feedback">;

function parseDetail(body: unknown): ConsultationDetail {
  const c: ConsultationDetail = parseConsultation(body);
  const o = requireObject(body);
  if (typeof o["note"] === "string") c.note = o["note"];
  if (Array.isArray(o["feedback"])) c.feedback = o["feedback"] as Feedback[];
  return c;
}

/** GET /consultations/{id} with the private note and the feedback. */
export function getConsultationDetail(id: string): Promise<ConsultationDetail> {
  return getJson(`/consultations/${enc(id)}`, parseDetail);
}

/** One page of my closed consultations, newest first. */
export interface HistoryPage {
  consultations: ConsultationDetail[];
  /** The cursor of the next page. */
  next?: string;
}

/** GET /consultations?status=closed: my closed consultations (with feedback), newest first. */
export async function consultationHistory(cursor?: string, limit = 25): Promise<HistoryPage> {
  const q = `status=closed&limit=${limit}${cursor ? `&cursor=${enc(cursor)}` : ""}`;
  const page = await getJson(`/consultations?${q}`, listBody<Schemas["consultationListBody"]>("consultations"));
  const out: HistoryPage = { consultations: page.consultations.map(parseDetail) };
  if (page.next) out.next = page.next;
  return out;
}

/** PUT /consultations/{id}/note: replaces the private note (empty removes it). */
export function saveNote(id: string, text: string): Promise<void> {
  const body: Schemas["noteRequest"] = { text };
  return requestJson("PUT", `/consultations/${enc(id)}/note`, null, { body });
}

/** POST /consultations/{id}/estimate: the patient is told the doctor starts in this many minutes (pending only). */
export function sendEstimate(id: string, minutes: number): Promise<Consultation> {
  const body: Schemas["estimateRequest"] = { minutes };
  return requestJson("POST", `/consultations/${enc(id)}/estimate`, parseConsultation, { body });
}

/** GET /colleagues: the other active doctors, by last name. */
export async function colleagues(): Promise<Colleague[]> {
  return (await getJson("/colleagues", listBody<Schemas["colleagueListBody"]>("doctors"))).doctors;
}

/** POST /consultations/{id}/transfer: to another queue or doctor, where it waits again. */
export function transferConsultation(id: string, to: TransferTarget): Promise<Consultation> {
  return requestJson("POST", `/consultations/${enc(id)}/transfer`, parseConsultation, { body: to });
}

/** GET /consultations/{id}/participants: patient first, with presence and the latest invite's status. */
export async function listParticipants(id: string): Promise<Participant[]> {
  return (await getJson(`/consultations/${enc(id)}/participants`, listBody<Schemas["participantListBody"]>("participants"))).participants;
}

/** POST /consultations/{id}/invites: a guest, interpreter or expert; the link is answered once. */
export function addParticipant(id: string, p: NewParticipant): Promise<IssuedParticipantInvite> {
  return requestJson("POST", `/consultations/${enc(id)}/invites`, objectBody<IssuedParticipantInvite>, { body: p });
}

/** GET /interpreter-organisations: names and languages. */
export async function interpreterOrganisations(): Promise<InterpreterOrganisation[]> {
  return (await getJson("/interpreter-organisations", listBody<Schemas["organisationListBody"]>("organisations"))).organisations;
}

/** POST /consultations/{id}/interpreter-requests: every member of the organisation is mailed a link. */
export function requestInterpreter(id: string, organisationId: string, language: string): Promise<InterpreterRequest> {
  const body: Schemas["interpreterRequestRequest"] = { organisation_id: organisationId, language };
  return requestJson("POST", `/consultations/${enc(id)}/interpreter-requests`, objectBody<InterpreterRequest>, { body });
}

/** GET /invites: the invites I created, newest first. */
export async function myInvites(limit = 50): Promise<InviteRecord[]> {
  return (await getJson(`/invites?limit=${limit}`, listBody<Schemas["inviteListBody"]>("invites"))).invites;
}

/** POST /invites/{id}/resend: a new link (the old one stops working), answered once. */
export function resendInvite(id: string): Promise<IssuedParticipantInvite> {
  return requestJson("POST", `/invites/${enc(id)}/resend`, objectBody<IssuedParticipantInvite>);
}

export function revokeInvite(id: string): Promise<InviteRecord> {
  return requestJson("POST", `/invites/${enc(id)}/revoke`, objectBody<InviteRecord>);
}

/** POST /invites/{id}/reschedule. */
export function rescheduleInvite(id: string, r: Schemas["rescheduleRequest"]): Promise<Schemas["rescheduledBody"]> {
  return requestJson("POST", `/invites/${enc(id)}/reschedule`, objectBody<Schemas["rescheduledBody"]>, { body: r });
}
