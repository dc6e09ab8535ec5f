package consultationapi

import (
	"context"
	"net/http"
	"time"

	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/consultation"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
)

// Error codes of calls.
const (
	CodeNoActiveCall          = "no_active_call"
	CodeCallNotRinging        = "call_not_ringing"
	CodeCallInProgress        = "call_in_progress"
	CodeConsultationNotActive = "consultation_not_active"
	CodeNoMediaNode           = "no_media_node"
)

type startCallRequest struct {
	Kind string `json:"kind" doc:"video or audio"`
}

func (r startCallRequest) Validate() error {
	if r.Kind != string(consultation.CallVideo) && r.Kind != string(consultation.CallAudio) {
		return httpapi.FieldError("kind", "must be video or audio")
	}
	return nil
}

type callParticipantBody struct {
	Identity   string     `json:"identity" doc:"u-<user id> for the doctor, p-<participant id> for a participant (the media grant's subject)"`
	Role       string     `json:"role"`
	AcceptedAt *time.Time `json:"accepted_at"`
	DeclinedAt *time.Time `json:"declined_at"`
	JoinedAt   *time.Time `json:"joined_at" doc:"when they last got a place in the call"`
	LeftAt     *time.Time `json:"left_at" doc:"when the backend took them out of the room (revoked, disabled)"`
}

type callBody struct {
	ID             string                `json:"id"`
	ConsultationID string                `json:"consultation_id"`
	StartedBy      string                `json:"started_by" doc:"the doctor's user id"`
	Kind           string                `json:"kind" doc:"video or audio"`
	State          string                `json:"state" doc:"ringing, active or ended"`
	StartedAt      time.Time             `json:"started_at"`
	AnsweredAt     *time.Time            `json:"answered_at"`
	EndedAt        *time.Time            `json:"ended_at"`
	EndReason      string                `json:"end_reason,omitempty" doc:"hung_up, declined, no_answer, max_duration, consultation_closed or consultation_transferred"`
	Participants   []callParticipantBody `json:"participants"`
}

type currentCallBody struct {
	Call *callBody `json:"call" doc:"the ringing or active call; null when there is none"`
}

type iceServerBody struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username" doc:"TURN REST username, <expiry>:<identity>"`
	Credential string   `json:"credential"`
}

type joinCallBody struct {
	CallID         string          `json:"call_id"`
	Kind           string          `json:"kind" doc:"video or audio (an audio call's grant allows the microphone only)"`
	Room           string          `json:"room" doc:"the consultation id"`
	Node           string          `json:"node" doc:"the media node the call is placed on"`
	SignalURL      string          `json:"signal_url" doc:"wss://<media host>/n/<node>/signal"`
	Grant          string          `json:"grant" doc:"the media grant: offer it as the WebSocket subprotocol hcw.grant.<grant> next to hcw.signal.v1, never in a URL"`
	GrantExpiresAt time.Time       `json:"grant_expires_at" doc:"join before then; an open connection outlives it"`
	Sources        []string        `json:"sources" doc:"what the grant lets this member publish: camera, microphone, screen (the doctor's, in a video call); the node refuses anything else"`
	ICEServers     []iceServerBody `json:"ice_servers"`
}

func callOf(c consultation.Call) callBody {
	b := callBody{ID: c.ID, ConsultationID: c.ConsultationID, StartedBy: c.StartedBy, Kind: string(c.Kind),
		State: string(c.State), StartedAt: c.StartedAt, AnsweredAt: c.AnsweredAt, EndedAt: c.EndedAt, EndReason: c.EndReason,
		Participants: make([]callParticipantBody, 0, len(c.Participants))}
	for _, p := range c.Participants {
		b.Participants = append(b.Participants, callParticipantBody{Identity: p.Identity, Role: string(p.Role),
			AcceptedAt: p.AcceptedAt, DeclinedAt: p.DeclinedAt, JoinedAt: p.JoinedAt, LeftAt: p.LeftAt})
	}
	return b
}

func (a *API) mountCalls(rt *httpapi.Router) {
	op := func(o httpapi.Operation, perm authz.Permission, h http.HandlerFunc) {
		o.Auth, o.Permission, o.Tags = httpapi.AuthSession, perm, []string{"calls"}
		o.Errors = append(o.Errors, 401, 403, 404)
		rt.HandleFunc(o, h)
	}
	const members = " Members only: the consultation's participants and its doctor; anyone else gets 404 (audited)."
	op(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/consultations/{id}/call", ID: "startCall",
		Summary: "Start a video or audio call on an active consultation, as its doctor: it rings for the participants (call.ringing).",
		Request: startCallRequest{}, Response: callBody{}, Status: http.StatusCreated, Errors: []int{400, 409, 503}},
		authz.PermCallsManage, a.startCall)
	op(httpapi.Operation{Method: http.MethodGet, Path: "/api/v1/consultations/{id}/call", ID: "getCall",
		Summary:  "The consultation's ringing or active call, if any." + members,
		Response: currentCallBody{}}, authz.PermCallsJoin, a.getCall)
	op(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/consultations/{id}/call/accept", ID: "acceptCall",
		Summary:  "Answer the call as a participant (call.accepted); a ringing call becomes active." + members,
		Response: callBody{}, Errors: []int{409}}, authz.PermCallsJoin, a.callAction(a.p.Consultations.AcceptCall))
	op(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/consultations/{id}/call/decline", ID: "declineCall",
		Summary:  "Decline the ringing call as a participant (call.declined); the patient declining ends it." + members,
		Response: callBody{}, Errors: []int{409}}, authz.PermCallsJoin, a.callAction(a.p.Consultations.DeclineCall))
	op(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/consultations/{id}/call/join", ID: "joinCall",
		Summary: "A place in the call: its media node and signalling URL, a short-lived media grant and TURN credentials. " +
			"The first join places the call on the least-loaded healthy node." + members,
		Response: joinCallBody{}, Errors: []int{409, 503}}, authz.PermCallsJoin, a.joinCall)
	op(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/consultations/{id}/call/end", ID: "endCall",
		Summary:  "Hang the call up, as the consultation's doctor: everyone leaves the room (call.ended).",
		Response: callBody{}, Errors: []int{409}}, authz.PermCallsManage, a.callAction(a.p.Consultations.EndCall))
}

func (a *API) startCall(w http.ResponseWriter, r *http.Request) {
	var req startCallRequest
	if err := httpapi.DecodeJSON(w, r, httpapi.DefaultMaxBody, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	c, err := a.p.Consultations.StartCall(r.Context(), principal(r), chatActor(r), r.PathValue("id"), consultation.CallKind(req.Kind))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, callOf(c))
}

func (a *API) getCall(w http.ResponseWriter, r *http.Request) {
	c, err := a.p.Consultations.CurrentCall(r.Context(), principal(r), chatActor(r), r.PathValue("id"))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	var body currentCallBody
	if c != nil {
		b := callOf(*c)
		body.Call = &b
	}
	httpapi.WriteJSON(w, http.StatusOK, body)
}

// callAction serves an operation on the call that answers the call.
func (a *API) callAction(fn func(ctx context.Context, p authz.Principal, actor consultation.Actor, id string) (consultation.Call, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := fn(r.Context(), principal(r), chatActor(r), r.PathValue("id"))
		if err != nil {
			a.writeErr(w, r, err)
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, callOf(c))
	}
}

func (a *API) joinCall(w http.ResponseWriter, r *http.Request) {
	j, err := a.p.Consultations.JoinCall(r.Context(), principal(r), chatActor(r), r.PathValue("id"))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	body := joinCallBody{CallID: j.Call.ID, Kind: string(j.Call.Kind), Room: j.Room, Node: j.Node, SignalURL: j.SignalURL,
		Grant: j.Grant, GrantExpiresAt: j.GrantExpiresAt, Sources: j.Sources, ICEServers: make([]iceServerBody, 0, len(j.ICEServers))}
	for _, s := range j.ICEServers {
		body.ICEServers = append(body.ICEServers, iceServerBody{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	httpapi.WriteJSON(w, http.StatusOK, body)
}
