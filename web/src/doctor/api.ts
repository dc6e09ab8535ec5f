/**
 * The doctor app's calls to the API (session cookie, same origin):
 * staffapi (sign-in, TOTP, setup links, me) and consultationapi (queues,
 * waiting lists, consultations, invites, chat, calls).
 */
import { getJson, requestJson } from "../shared/api";
import {
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
  return requestJson("POST", "/auth/sign-in", parseStaffSession, { body: { email, password } });
}

/** POST /auth/second-factor: a TOTP or recovery code. */
export function secondFactor(code: string): Promise<StaffSession> {
  return requestJson("POST", "/auth/second-factor", parseStaffSession, { body: { code } });
}

/** POST /auth/totp/enrolment: a new secret and its QR code. */
export function beginEnrolment(): Promise<TotpEnrolment> {
  return requestJson("POST", "/auth/totp/enrolment", parseTotpEnrolment);
}

/** POST /auth/totp/confirmation: one code confirms; ten recovery codes come back once. */
export function confirmEnrolment(code: string): Promise<TotpEnrolled> {
  return requestJson("POST", "/auth/totp/confirmation", parseTotpEnrolled, { body: { code } });
}

/** POST /auth/password: a setup or reset link's token and the new password. */
export function setPasswordWithToken(token: string, purpose: "setup" | "reset", password: string): Promise<void> {
  return requestJson("POST", "/auth/password", null, { body: { token, purpose, password } });
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

export interface NewInvite {
  first_name: string;
  last_name: string;
  email?: string;
  language?: string;
  queue_id: string;
  delivery: "link" | "email";
}

/** POST /invites: the consultation and its link, shown once. */
export function createInvite(invite: NewInvite): Promise<IssuedInvite> {
  return requestJson("POST", "/invites", parseIssuedInvite, { body: invite });
}

/** The chat of a consultation, as its doctor. */
export function doctorChat(consultationId: string): ChatTransport {
  const base = `/consultations/${enc(consultationId)}/messages`;
  return {
    send: (key, text) => requestJson("POST", base, parseChatAck, { body: { key, text } }),
    list: (after, limit) => getJson(`${base}?after=${after}&limit=${limit}`, parseChatMessagePage),
    markRead: (seq) => requestJson("POST", `${base}/read`, null, { body: { seq } }),
  };
}

/** The call operations of a consultation, as its doctor. */
export function doctorCallApi(consultationId: string): CallApi {
  return callApi(`/consultations/${enc(consultationId)}/call`);
}
