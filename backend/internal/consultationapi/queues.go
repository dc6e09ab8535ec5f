package consultationapi

import (
	"net/http"
	"time"

	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/consultation"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
)

type queueBody struct {
	ID                string    `json:"id"`
	Name              string    `json:"name"`
	ShowEstimatedTime bool      `json:"show_estimated_time" doc:"patients see an estimated start time"`
	AskFeedback       bool      `json:"ask_feedback" doc:"patients are asked for feedback after closing"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
	MemberIDs         []string  `json:"member_ids,omitempty" doc:"user ids of its doctors and nurses (admin views only)"`
}

func queueOf(q consultation.Queue, members bool) queueBody {
	b := queueBody{ID: q.ID, Name: q.Name, ShowEstimatedTime: q.ShowEstimatedTime, AskFeedback: q.AskFeedback,
		CreatedAt: q.CreatedAt, UpdatedAt: q.UpdatedAt}
	if members {
		b.MemberIDs = q.MemberIDs
		if b.MemberIDs == nil {
			b.MemberIDs = []string{}
		}
	}
	return b
}

type queueListBody struct {
	Queues []queueBody `json:"queues"`
}

type createQueueRequest struct {
	Name              string `json:"name" doc:"1 to 100 characters, unique"`
	ShowEstimatedTime bool   `json:"show_estimated_time,omitempty"`
	AskFeedback       bool   `json:"ask_feedback,omitempty"`
}

func (r createQueueRequest) Validate() error {
	if r.Name == "" {
		return httpapi.FieldError("name", "is required")
	}
	return nil
}

type updateQueueRequest struct {
	Name              *string `json:"name,omitempty"`
	ShowEstimatedTime *bool   `json:"show_estimated_time,omitempty"`
	AskFeedback       *bool   `json:"ask_feedback,omitempty"`
}

type setMembersRequest struct {
	UserIDs []string `json:"user_ids" doc:"the queue's doctors and nurses; replaces the current members"`
}

func (r setMembersRequest) Validate() error {
	if r.UserIDs == nil {
		return httpapi.FieldError("user_ids", "is required (an empty array removes every member)")
	}
	return nil
}

func (a *API) mountQueues(rt *httpapi.Router) {
	manage := func(op httpapi.Operation, h http.HandlerFunc) {
		op.Auth, op.Permission, op.Tags = httpapi.AuthAny, authz.PermQueuesManage, []string{"admin: queues"}
		op.Errors = append(op.Errors, 401, 403)
		rt.HandleFunc(op, h)
	}
	manage(httpapi.Operation{Method: http.MethodGet, Path: "/api/v1/admin/queues", ID: "listQueues",
		Summary: "Every queue with its members.", Response: queueListBody{}}, a.listQueues)
	manage(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/admin/queues", ID: "createQueue",
		Summary: "Create a queue (no members yet).", Request: createQueueRequest{}, Response: queueBody{},
		Status: http.StatusCreated, Errors: []int{400, 409}}, a.createQueue)
	manage(httpapi.Operation{Method: http.MethodGet, Path: "/api/v1/admin/queues/{id}", ID: "getQueue",
		Summary: "One queue with its members.", Response: queueBody{}, Errors: []int{404}}, a.getQueue)
	manage(httpapi.Operation{Method: http.MethodPatch, Path: "/api/v1/admin/queues/{id}", ID: "updateQueue",
		Summary: "Rename a queue or change its switches.", Request: updateQueueRequest{}, Response: queueBody{},
		Errors: []int{400, 404, 409}}, a.updateQueue)
	manage(httpapi.Operation{Method: http.MethodDelete, Path: "/api/v1/admin/queues/{id}", ID: "deleteQueue",
		Summary: "Delete a queue no consultation refers to (409 queue_in_use otherwise).",
		Status:  http.StatusNoContent, Errors: []int{404, 409}}, a.deleteQueue)
	manage(httpapi.Operation{Method: http.MethodPut, Path: "/api/v1/admin/queues/{id}/members", ID: "setQueueMembers",
		Summary: "Replace a queue's members (doctors and nurses); effective at their next request.",
		Request: setMembersRequest{}, Response: queueBody{}, Errors: []int{400, 404}}, a.setMembers)

	rt.HandleFunc(httpapi.Operation{Method: http.MethodGet, Path: "/api/v1/queues", ID: "listMyQueues",
		Tags: []string{"queues"}, Auth: httpapi.AuthAny, Permission: authz.PermQueuesRead,
		Summary:  "The queues the caller sees: theirs, or all of them for admins and all-queues staff.",
		Response: queueListBody{}, Errors: []int{401, 403}}, a.listMyQueues)
}

func (a *API) writeQueues(w http.ResponseWriter, qs []consultation.Queue, members bool) {
	body := queueListBody{Queues: make([]queueBody, 0, len(qs))}
	for _, q := range qs {
		body.Queues = append(body.Queues, queueOf(q, members))
	}
	httpapi.WriteJSON(w, http.StatusOK, body)
}

func (a *API) listQueues(w http.ResponseWriter, r *http.Request) {
	qs, err := a.p.Consultations.Queues(r.Context())
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	a.writeQueues(w, qs, true)
}

func (a *API) listMyQueues(w http.ResponseWriter, r *http.Request) {
	qs, err := a.p.Consultations.QueuesOf(r.Context(), principal(r))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	a.writeQueues(w, qs, false)
}

func (a *API) createQueue(w http.ResponseWriter, r *http.Request) {
	var req createQueueRequest
	if err := httpapi.DecodeJSON(w, r, httpapi.DefaultMaxBody, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	q, err := a.p.Consultations.CreateQueue(r.Context(), actor(r), req.Name, req.ShowEstimatedTime, req.AskFeedback)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, queueOf(q, true))
}

func (a *API) getQueue(w http.ResponseWriter, r *http.Request) {
	q, err := a.p.Consultations.Queue(r.Context(), r.PathValue("id"))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, queueOf(q, true))
}

func (a *API) updateQueue(w http.ResponseWriter, r *http.Request) {
	var req updateQueueRequest
	if err := httpapi.DecodeJSON(w, r, httpapi.DefaultMaxBody, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	q, err := a.p.Consultations.UpdateQueue(r.Context(), actor(r), r.PathValue("id"), consultation.QueueChange{
		Name: req.Name, ShowEstimatedTime: req.ShowEstimatedTime, AskFeedback: req.AskFeedback})
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, queueOf(q, true))
}

func (a *API) deleteQueue(w http.ResponseWriter, r *http.Request) {
	if err := a.p.Consultations.DeleteQueue(r.Context(), actor(r), r.PathValue("id")); err != nil {
		a.writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) setMembers(w http.ResponseWriter, r *http.Request) {
	var req setMembersRequest
	if err := httpapi.DecodeJSON(w, r, httpapi.DefaultMaxBody, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	q, err := a.p.Consultations.SetMembers(r.Context(), actor(r), r.PathValue("id"), req.UserIDs)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, queueOf(q, true))
}
