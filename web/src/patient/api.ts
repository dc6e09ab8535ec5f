/**
 * The patient's calls to the API. The session is the cookie set by the
 * redemption (HttpOnly, __Host-): nothing here stores a token.
 */
import { getJson, requestJson, type RequestOptions } from "../shared/api";
import {
  parseChatAck,
  parseChatMessagePage,
  parseParticipation,
  parseQueuePosition,
  parseRedeemed,
  type Participation,
  type QueuePosition,
  type Redeemed,
} from "../shared/api-types";
import type { ChatTransport } from "../shared/chat";

/** POST /api/v1/invites/redeem: the invite link's token for a session cookie. */
export function redeemInvite(token: string, options: RequestOptions = {}): Promise<Redeemed> {
  return requestJson("POST", "/invites/redeem", parseRedeemed, { ...options, body: { token } });
}

/** GET /api/v1/participant/me: the participant's consultation, status, role. 401 without a session. */
export function getParticipation(options: RequestOptions = {}): Promise<Participation> {
  return getJson("/participant/me", parseParticipation, options);
}

/** GET /api/v1/participant/queue-position. */
export function getQueuePosition(options: RequestOptions = {}): Promise<QueuePosition> {
  return getJson("/participant/queue-position", parseQueuePosition, options);
}

/** The chat calls of a participant, for ChatStore. */
export function participantChat(consultationId: string, options: RequestOptions = {}): ChatTransport {
  const base = `/participant/consultations/${encodeURIComponent(consultationId)}/messages`;
  return {
    send: (key, text) => requestJson("POST", base, parseChatAck, { ...options, body: { key, text } }),
    list: (after, limit) => getJson(`${base}?after=${after}&limit=${limit}`, parseChatMessagePage, options),
    markRead: (seq) => requestJson("POST", `${base}/read`, null, { ...options, body: { seq } }),
  };
}

/** A patient's rating of a consultation (as in the reference: good, ok or bad). */
export type Rating = "good" | "ok" | "bad";

export interface Feedback {
  rating: Rating;
  comment: string;
}

/**
 * POST /api/v1/participant/consultations/{id}/feedback — PROPOSED: the
 * backend has no feedback endpoint yet, and a participant's session ends
 * when the consultation closes. Until both exist this answers 401 or 404 and
 * the form says the feedback could not be sent.
 */
export function sendFeedback(consultationId: string, feedback: Feedback, options: RequestOptions = {}): Promise<void> {
  const path = `/participant/consultations/${encodeURIComponent(consultationId)}/feedback`;
  return requestJson("POST", path, null, { ...options, body: feedback });
}
