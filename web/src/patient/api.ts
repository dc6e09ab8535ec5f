/**
 * The patient's calls to the API. The session is the cookie set by the
 * redemption (HttpOnly, __Host-): nothing here stores a token.
 */
import { getJson, requestJson, type RequestOptions } from "../shared/api";
import type { components } from "../shared/api-schema";
import {
  type Fits,
  type Narrowed,
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

type Schemas = components["schemas"];

/** POST /api/v1/invites/redeem: the invite link's token for a session cookie. */
export function redeemInvite(token: string, options: RequestOptions = {}): Promise<Redeemed> {
  const body: Schemas["redeemRequest"] = { token };
  return requestJson("POST", "/invites/redeem", parseRedeemed, { ...options, body });
}

/**
 * The feedback token of the last participant read: each read of
 * /participant/me answers a fresh one and invalidates the one before, so
 * the feedback must carry the latest (kept in memory only).
 */
let lastFeedbackToken: string | undefined;

/** The feedback token of the last GET /participant/me, if the queue asks for feedback. */
export function feedbackToken(): string | undefined {
  return lastFeedbackToken;
}

/** GET /api/v1/participant/me: the participant's consultation, status, role. 401 without a session. */
export async function getParticipation(options: RequestOptions = {}): Promise<Participation> {
  const p = await getJson("/participant/me", parseParticipation, options);
  if (p.feedback_token) lastFeedbackToken = p.feedback_token;
  return p;
}

/** GET /api/v1/participant/queue-position. */
export function getQueuePosition(options: RequestOptions = {}): Promise<QueuePosition> {
  return getJson("/participant/queue-position", parseQueuePosition, options);
}

/** The chat calls of a participant, for ChatStore. */
export function participantChat(consultationId: string, options: RequestOptions = {}): ChatTransport {
  const base = `/participant/consultations/${encodeURIComponent(consultationId)}/messages`;
  return {
    send: (key, text) => requestJson("POST", base, parseChatAck, { ...options, body: { key, text } satisfies Schemas["sendMessageRequest"] }),
    list: (after, limit) => getJson(`${base}?after=${after}&limit=${limit}`, parseChatMessagePage, options),
    markRead: (seq) => requestJson("POST", `${base}/read`, null, { ...options, body: { seq } satisfies Schemas["markReadRequest"] }),
  };
}

/** A patient's rating of a consultation (as in the reference: good, ok or bad). */
export type Rating = Fits<"good" | "ok" | "bad", Schemas["feedbackRequest"]["rating"]>;

/** The feedback form's answer (comment empty for none). */
export type Feedback = Narrowed<Required<Pick<Schemas["feedbackRequest"], "rating" | "comment">>, { rating: Rating }>;

/**
 * POST /api/v1/participant/consultations/{id}/feedback {token, rating,
 * comment}: the participant's session ended with the consultation, so the
 * feedback token of the last participant read authorises it (once).
 */
export function sendFeedback(
  consultationId: string,
  feedback: Feedback,
  options: RequestOptions & { token?: string } = {},
): Promise<void> {
  const path = `/participant/consultations/${encodeURIComponent(consultationId)}/feedback`;
  const { token = feedbackToken(), ...rest } = options;
  const body: Schemas["feedbackRequest"] = { token: token ?? "", rating: feedback.rating };
  if (feedback.comment) body["comment"] = feedback.comment;
  return requestJson("POST", path, null, { ...rest, body });
}
