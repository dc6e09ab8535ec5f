package consultationapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/consultation"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
	"github.com/hcw-home/hcw/backend/internal/realtime"
)

// Socket message types of the chat.
const (
	TypeChatSend   = "chat.send"
	TypeChatAck    = "chat.ack"
	TypeChatSync   = "chat.sync"
	TypeChatBatch  = "chat.batch"
	TypeChatRead   = "chat.read"
	TypeChatReadOK = "chat.read_ok"
)

// chatMaxBody fits a 10000-character text however it is escaped.
const chatMaxBody = 128 << 10

type sendMessageRequest struct {
	Key  string `json:"key" doc:"the sender's idempotency key (1 to 64 bytes): a resend with the same key gets the same ack"`
	Text string `json:"text" doc:"1 to 10000 characters; sealed at rest"`
}

type ackBody struct {
	Key       string    `json:"key"`
	Seq       int64     `json:"seq" doc:"the message's number in its consultation, from 1 without gaps"`
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
}

type messageBody struct {
	ID                  string    `json:"id"`
	Seq                 int64     `json:"seq"`
	SenderParticipantID string    `json:"sender_participant_id,omitempty"`
	SenderUserID        string    `json:"sender_user_id,omitempty"`
	Key                 string    `json:"key"`
	Text                string    `json:"text"`
	CreatedAt           time.Time `json:"created_at"`
}

type messageListBody struct {
	Messages []messageBody `json:"messages"`
	More     bool          `json:"more" doc:"messages after the last one exist: ask again with after set to its seq"`
}

type markReadRequest struct {
	Seq int64 `json:"seq" doc:"the last message read (at most the last message's seq)"`
}

func ackOf(a consultation.Ack) ackBody {
	return ackBody{Key: a.Key, Seq: a.Seq, ID: a.ID, CreatedAt: a.CreatedAt}
}

func messagesOf(p consultation.MessagePage) messageListBody {
	out := messageListBody{Messages: make([]messageBody, 0, len(p.Messages)), More: p.More}
	for _, m := range p.Messages {
		out.Messages = append(out.Messages, messageBody{ID: m.ID, Seq: m.Seq, SenderParticipantID: m.SenderParticipantID,
			SenderUserID: m.SenderUserID, Key: m.Key, Text: m.Text, CreatedAt: m.CreatedAt})
	}
	return out
}

func (a *API) mountChat(rt *httpapi.Router) {
	staff := func(op httpapi.Operation, h http.HandlerFunc) {
		op.Auth, op.Permission, op.Tags = httpapi.AuthSession, authz.PermConsultationsManage, []string{"chat"}
		op.Errors = append(op.Errors, 400, 401, 403, 404)
		rt.HandleFunc(op, h)
	}
	part := func(op httpapi.Operation, h http.HandlerFunc) {
		op.Auth, op.Permission, op.Tags = httpapi.AuthSession, authz.PermParticipantSelf, []string{"chat"}
		op.Errors = append(op.Errors, 400, 401, 403, 404)
		rt.HandleFunc(op, h)
	}
	page := []httpapi.QueryParam{
		{Name: "after", Type: "integer", Description: "only messages with a greater seq: the last seq the client holds, 0 or more (default 0: from the first message)"},
		{Name: "limit", Type: "integer", Description: fmt.Sprintf("messages per page, 1 to %d (default %d)", consultation.MaxMessagePage, consultation.DefaultMessagePage)},
	}
	staff(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/consultations/{id}/messages", ID: "sendMessage",
		Summary: "Send a chat message as the consultation's doctor; answers once it is stored. The same key again returns the same ack.",
		Request: sendMessageRequest{}, Response: ackBody{}, Errors: []int{410}, MaxBody: chatMaxBody}, a.sendMessage)
	staff(httpapi.Operation{Method: http.MethodGet, Path: "/api/v1/consultations/{id}/messages", ID: "listMessages",
		Summary: "The consultation's messages in order, a page at a time; audited.",
		Query:   page, Response: messageListBody{}}, a.listMessages)
	staff(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/consultations/{id}/messages/read", ID: "markMessagesRead",
		Summary: "Record that the caller read the messages up to seq (chat.read event).",
		Request: markReadRequest{}, Status: http.StatusNoContent}, a.markRead)
	part(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/participant/consultations/{id}/messages", ID: "sendParticipantMessage",
		Summary: "Send a chat message to one's consultation; any other id is 404 (audited). The same key again returns the same ack.",
		Request: sendMessageRequest{}, Response: ackBody{}, Errors: []int{410}, MaxBody: chatMaxBody}, a.sendMessage)
	part(httpapi.Operation{Method: http.MethodGet, Path: "/api/v1/participant/consultations/{id}/messages", ID: "listParticipantMessages",
		Summary: "One's consultation's messages in order, a page at a time; audited.",
		Query:   page, Response: messageListBody{}}, a.listMessages)
	part(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/participant/consultations/{id}/messages/read", ID: "markParticipantMessagesRead",
		Summary: "Record that the participant read the messages up to seq (chat.read event).",
		Request: markReadRequest{}, Status: http.StatusNoContent}, a.markRead)
}

// chatActor is the audit actor of staff and participants alike.
func chatActor(r *http.Request) consultation.Actor {
	p := principal(r)
	a := actor(r)
	if p.Kind == "participant" {
		a.Type, a.ID, a.UserID = audit.ActorParticipant, p.ID, ""
	}
	return a
}

func (a *API) sendMessage(w http.ResponseWriter, r *http.Request) {
	var req sendMessageRequest
	if err := httpapi.DecodeJSON(w, r, chatMaxBody, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	ack, err := a.p.Consultations.SendMessage(r.Context(), principal(r), chatActor(r), r.PathValue("id"), req.Key, req.Text)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, ackOf(ack))
}

func (a *API) listMessages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var after int64
	if s := q.Get("after"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			httpapi.WriteRequestError(w, httpapi.FieldError("after", "must be a seq (0 or more)"))
			return
		}
		after = n
	}
	limit, lerr := httpapi.QueryLimit(r, consultation.MaxMessagePage)
	if lerr != nil {
		httpapi.WriteRequestError(w, lerr)
		return
	}
	page, err := a.p.Consultations.Messages(r.Context(), principal(r), chatActor(r), r.PathValue("id"), after, limit)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, messagesOf(page))
}

func (a *API) markRead(w http.ResponseWriter, r *http.Request) {
	var req markReadRequest
	if err := httpapi.DecodeJSON(w, r, httpapi.DefaultMaxBody, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	if err := a.p.Consultations.MarkRead(r.Context(), principal(r), chatActor(r), r.PathValue("id"), req.Seq); err != nil {
		a.writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Socket messages. A participant's socket speaks for its own
// consultation; a doctor's names it in consultation_id. Every message is
// authorised by the same service call as its REST twin.

type chatSendData struct {
	ConsultationID string `json:"consultation_id"`
	Key            string `json:"key"`
	Text           string `json:"text"`
}

type chatSyncData struct {
	ConsultationID string `json:"consultation_id"`
	After          int64  `json:"after"`
	Limit          int    `json:"limit"`
}

type chatReadData struct {
	ConsultationID string `json:"consultation_id"`
	Seq            int64  `json:"seq"`
}

// errBadChatData is the refusal of malformed chat data.
var errBadChatData = errors.New("invalid chat message")

// decodeStrict decodes one JSON object into v, refusing unknown fields,
// trailing data and anything that is not an object.
func decodeStrict(raw json.RawMessage, v any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return errBadChatData
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil || dec.More() {
		return errBadChatData
	}
	return nil
}

// ParseChatEnvelope decodes a chat socket message: the envelope, then its
// data for the chat type it names. It returns the envelope and one of
// chatSendData, chatSyncData or chatReadData (validated: key and text as
// SendMessage wants them, after and seq not negative).
func ParseChatEnvelope(b []byte) (realtime.Inbound, any, error) {
	in, err := realtime.ParseInbound(b)
	if err != nil {
		return realtime.Inbound{}, nil, err
	}
	v, err := parseChatData(in.Type, in.Data)
	return in, v, err
}

func parseChatData(typ string, raw json.RawMessage) (any, error) {
	switch typ {
	case TypeChatSend:
		var d chatSendData
		if err := decodeStrict(raw, &d); err != nil {
			return nil, err
		}
		if err := consultation.ValidateMessage(d.Key, d.Text); err != nil {
			return nil, err
		}
		return d, nil
	case TypeChatSync:
		var d chatSyncData
		if err := decodeStrict(raw, &d); err != nil || d.After < 0 || d.Limit < 0 || d.Limit > consultation.MaxMessagePage {
			return nil, errBadChatData
		}
		return d, nil
	case TypeChatRead:
		var d chatReadData
		if err := decodeStrict(raw, &d); err != nil || d.Seq < 1 {
			return nil, errBadChatData
		}
		return d, nil
	}
	return nil, errBadChatData
}

// SocketMessages are the chat's socket message handlers, for
// realtime.Params.Messages: chat.send (answered by chat.ack once stored),
// chat.sync (chat.batch of the messages after a seq) and chat.read
// (chat.read_ok). Errors are {"type":"error","data":{"code",...}} with the
// REST codes (consultation_closed, not_found, invalid_request).
func (a *API) SocketMessages() map[string]realtime.MessageHandler {
	h := func(typ string) realtime.MessageHandler {
		return func(ctx context.Context, c *realtime.Conn, id string, raw json.RawMessage) realtime.Envelope {
			v, err := parseChatData(typ, raw)
			if err != nil {
				return socketErr(err)
			}
			return a.chatSocket(ctx, c, v)
		}
	}
	return map[string]realtime.MessageHandler{TypeChatSend: h(TypeChatSend), TypeChatSync: h(TypeChatSync), TypeChatRead: h(TypeChatRead)}
}

// target is the consultation a socket message is for.
func target(p authz.Principal, named string) string {
	if p.Kind == "participant" && named == "" {
		return p.ConsultationID
	}
	return named
}

func socketActor(c *realtime.Conn) consultation.Actor {
	p := c.Principal
	switch p.Kind {
	case "participant":
		return consultation.Actor{Type: audit.ActorParticipant, ID: p.ID, ClientIP: c.Client.IP}
	case "api_key":
		return consultation.Actor{Type: audit.ActorAPIKey, ID: p.ID, UserID: p.UserID, ClientIP: c.Client.IP}
	}
	return consultation.Actor{Type: audit.ActorUser, ID: p.UserID, UserID: p.UserID, ClientIP: c.Client.IP}
}

func (a *API) chatSocket(ctx context.Context, c *realtime.Conn, v any) realtime.Envelope {
	p, act := c.Principal, socketActor(c)
	switch d := v.(type) {
	case chatSendData:
		ack, err := a.p.Consultations.SendMessage(ctx, p, act, target(p, d.ConsultationID), d.Key, d.Text)
		if err != nil {
			return a.socketErrLogged(err)
		}
		return realtime.Envelope{Type: TypeChatAck, Data: ackOf(ack)}
	case chatSyncData:
		page, err := a.p.Consultations.Messages(ctx, p, act, target(p, d.ConsultationID), d.After, d.Limit)
		if err != nil {
			return a.socketErrLogged(err)
		}
		return realtime.Envelope{Type: TypeChatBatch, Data: messagesOf(page)}
	case chatReadData:
		if err := a.p.Consultations.MarkRead(ctx, p, act, target(p, d.ConsultationID), d.Seq); err != nil {
			return a.socketErrLogged(err)
		}
		return realtime.Envelope{Type: TypeChatReadOK, Data: map[string]int64{"seq": d.Seq}}
	}
	return socketErr(errBadChatData)
}

func (a *API) socketErrLogged(err error) realtime.Envelope {
	env := socketErr(err)
	if env.Data.(map[string]string)["code"] == httpapi.CodeInternal {
		a.p.Logger.Error("chat socket message failed", "error", err.Error())
	}
	return env
}

// socketErr maps a chat error to the socket's error message, with the
// REST API's codes.
func socketErr(err error) realtime.Envelope {
	var fe *consultation.FieldError
	data := map[string]string{}
	switch {
	case errors.As(err, &fe):
		data["code"], data["field"], data["message"] = httpapi.CodeInvalidRequest, fe.Field, fe.Reason
	case errors.Is(err, errBadChatData):
		data["code"] = realtime.CodeInvalidMessage
	case errors.Is(err, consultation.ErrNotFound):
		data["code"] = httpapi.CodeNotFound
	case errors.Is(err, consultation.ErrConsultationClosed):
		data["code"] = CodeConsultationClosed
	default:
		data["code"] = httpapi.CodeInternal
	}
	return realtime.Envelope{Type: realtime.TypeError, Data: data}
}
