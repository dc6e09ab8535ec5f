package staffapi

import (
	"fmt"
	"net/http"
	"time"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
)

// auditEventBody is one audit row as administrators read it: who, did
// what, to what, when, from where, with which outcome. The trail holds
// identifiers only, never names or health data; the chain's hashes are
// left out (GET /api/v1/admin/audit/verification checks them).
type auditEventBody struct {
	Seq            int64     `json:"seq" doc:"position in the chain; pages are cut by it"`
	At             time.Time `json:"at" doc:"UTC"`
	ActorType      string    `json:"actor_type" doc:"user, api_key, participant or system"`
	ActorID        *string   `json:"actor_id" doc:"user, API key or participant id; null for the system"`
	Action         string    `json:"action" doc:"dotted name, e.g. sign_in.failure"`
	ObjectType     *string   `json:"object_type"`
	ObjectID       *string   `json:"object_id"`
	ConsultationID *string   `json:"consultation_id"`
	ClientIP       *string   `json:"client_ip"`
	Outcome        string    `json:"outcome" doc:"success, failure or denied"`
}

type auditListBody struct {
	Events     []auditEventBody `json:"events" doc:"newest first"`
	NextBefore *int64           `json:"next_before" doc:"pass as before for the next page; null on the last page"`
}

func (a *API) mountAudit(rt *httpapi.Router) {
	const id = "exact match; an identifier of at most 128 characters from A-Z a-z 0-9 . _ : @ + -"
	rt.HandleFunc(httpapi.Operation{Method: http.MethodGet, Path: "/api/v1/admin/audit", ID: "listAuditEvents",
		Tags: []string{"admin: audit"}, Auth: httpapi.AuthAny, Permission: authz.PermAuditRead,
		Summary: "Audit events, newest first, filtered and a page at a time; each read is itself audited.",
		Description: "Filters combine with AND; a malformed one is refused with 400 naming the parameter. " +
			fmt.Sprintf("Pages hold limit events (default %d, at most %d); pass next_before as before for the next. ", audit.DefaultListLimit, audit.MaxListLimit) +
			"Pages are cut by seq, so walking them neither skips nor repeats an event while others are appended.",
		Query: []httpapi.QueryParam{
			{Name: "action", Description: "exact action, e.g. sign_in.failure"},
			{Name: "actor_type", Description: "user, api_key, participant or system"},
			{Name: "actor_id", Description: "the actor: user, API key or participant id; " + id},
			{Name: "object_type", Description: "what kind of thing was acted upon, e.g. user, invite, consultation"},
			{Name: "object_id", Description: "the thing acted upon; " + id},
			{Name: "consultation_id", Description: "the consultation the event belongs to; " + id},
			{Name: "outcome", Description: "success, failure or denied"},
			{Name: "from", Format: "date-time", Description: "RFC 3339; events at or after it"},
			{Name: "to", Format: "date-time", Description: "RFC 3339; events before it (must be after from)"},
			{Name: "before", Type: "integer", Description: "events with a smaller seq: the next_before of the previous page"},
			{Name: "limit", Type: "integer", Description: fmt.Sprintf("1 to %d (default %d)", audit.MaxListLimit, audit.DefaultListLimit)},
		},
		Response: auditListBody{}, Errors: []int{400, 401, 403}}, a.listAudit)
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request) {
	f, err := audit.ParseFilter(r.URL.Query())
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	page, err := a.p.Audit.List(r.Context(), f)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	// Who read the trail is recorded too, after the read so that the
	// page does not hold its own event.
	act := actor(r)
	if err := a.p.Audit.Append(r.Context(), audit.Event{ActorType: act.Type, ActorID: act.ID, Action: audit.ActionAuditRead,
		ObjectType: "audit", ClientIP: act.ClientIP, Outcome: audit.OutcomeSuccess}); err != nil {
		a.writeErr(w, r, err)
		return
	}
	body := auditListBody{Events: make([]auditEventBody, 0, len(page.Records))}
	for _, rec := range page.Records {
		body.Events = append(body.Events, auditEventBody{Seq: rec.Seq, At: rec.At.UTC(), ActorType: rec.ActorType,
			ActorID: rec.ActorID, Action: rec.Action, ObjectType: rec.ObjectType, ObjectID: rec.ObjectID,
			ConsultationID: rec.ConsultationID, ClientIP: rec.ClientIP, Outcome: rec.Outcome})
	}
	if page.NextBefore > 0 {
		body.NextBefore = &page.NextBefore
	}
	httpapi.WriteJSON(w, http.StatusOK, body)
}
