package statistics

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/clientinfo"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
)

// ActionRead is the audit action of a statistics read (JSON or CSV).
const ActionRead = "statistics.read"

// Reporter computes reports (Store implements it).
type Reporter interface {
	Report(ctx context.Context, f Filter) (Report, error)
}

// Auditor records who read the statistics (audit.Store implements it).
type Auditor interface {
	Append(ctx context.Context, e audit.Event) error
}

// Params are the API's dependencies.
type Params struct {
	Reports Reporter
	Audit   Auditor
	Logger  *slog.Logger
	// Now is the clock of the default range (time.Now when nil).
	Now func() time.Time
}

// API serves the statistics routes.
type API struct {
	p Params
}

// NewAPI returns the API.
func NewAPI(p Params) *API {
	if p.Now == nil {
		p.Now = time.Now
	}
	return &API{p: p}
}

// Mount registers the statistics operations. They are admin reads: the
// figures are anonymous, but per queue and day they still describe the
// service, so only administrators see them, and each read is audited.
func (a *API) Mount(rt *httpapi.Router) {
	query := []httpapi.QueryParam{
		{Name: "from", Format: "date", Description: fmt.Sprintf("first day, YYYY-MM-DD (UTC), included; default: the day that makes the range %d days long", DefaultDays)},
		{Name: "to", Format: "date", Description: fmt.Sprintf("last day, YYYY-MM-DD (UTC), included; not before from, and the range covers at most %d days; default: today, or the %dth day from from when only from is given", MaxDays, DefaultDays)},
		{Name: "queue_id", Description: "only this queue: a queue id (UUID); default: every queue"},
	}
	rt.HandleFunc(httpapi.Operation{Method: http.MethodGet, Path: "/api/v1/admin/statistics", ID: "getStatistics",
		Tags: []string{"admin: statistics"}, Auth: httpapi.AuthAny, Permission: authz.PermQueuesManage,
		Summary: "Closed consultations per day and queue, with totals: counts, waiting and consultation times, calls, feedback.",
		Query:   query, Response: Report{}, Errors: []int{400, 401, 403}}, a.getJSON)
	rt.HandleFunc(httpapi.Operation{Method: http.MethodGet, Path: "/api/v1/admin/statistics.csv", ID: "exportStatistics",
		Tags: []string{"admin: statistics"}, Auth: httpapi.AuthAny, Permission: authz.PermQueuesManage,
		Summary: "The same figures as getStatistics as a text/csv attachment with a header row, one line per day and queue.",
		Query:   query, Errors: []int{400, 401, 403}}, a.getCSV)
}

func (a *API) report(w http.ResponseWriter, r *http.Request, format string) (Report, bool) {
	f, err := ParseFilter(r.URL.Query(), a.p.Now())
	if err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			httpapi.WriteRequestError(w, httpapi.FieldError(fe.Field, "%s", fe.Reason))
			return Report{}, false
		}
		a.fail(w, r, err)
		return Report{}, false
	}
	rep, err := a.p.Reports.Report(r.Context(), f)
	if err != nil {
		a.fail(w, r, err)
		return Report{}, false
	}
	info, _ := clientinfo.FromContext(r.Context())
	p, _ := httpapi.PrincipalFrom(r.Context())
	ev := audit.Event{ActorType: audit.ActorUser, ActorID: p.UserID, Action: ActionRead,
		ObjectType: "statistics", ObjectID: format, ClientIP: info.IP, Outcome: audit.OutcomeSuccess}
	if p.Kind == "api_key" {
		ev.ActorType, ev.ActorID = audit.ActorAPIKey, p.ID
	}
	if err := a.p.Audit.Append(r.Context(), ev); err != nil {
		a.fail(w, r, err)
		return Report{}, false
	}
	return rep, true
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	if a.p.Logger != nil {
		a.p.Logger.Error("request failed", "path", r.URL.Path, "error", err.Error())
	}
	httpapi.WriteError(w, http.StatusInternalServerError, httpapi.CodeInternal, "internal error")
}

func (a *API) getJSON(w http.ResponseWriter, r *http.Request) {
	rep, ok := a.report(w, r, "json")
	if !ok {
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, rep)
}

// CSVHeader is the header row of the CSV export.
var CSVHeader = []string{"day", "queue_id", "queue_name", "closed", "completed", "cancelled",
	"avg_wait_seconds", "p90_wait_seconds", "avg_consultation_seconds", "calls",
	"feedback_good", "feedback_ok", "feedback_bad"}

func (a *API) getCSV(w http.ResponseWriter, r *http.Request) {
	rep, ok := a.report(w, r, "csv")
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="statistics-`+rep.From+`-`+rep.To+`.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	_ = cw.Write(CSVHeader)
	for _, row := range rep.Rows {
		queue := ""
		if row.QueueID != nil {
			queue = *row.QueueID
		}
		_ = cw.Write(csvLine(row.Day, queue, row.QueueName, row.Figures))
	}
	cw.Flush()
}

// csvLine formats one line; a queue name that a spreadsheet would take
// for a formula is quoted with a leading apostrophe.
func csvLine(day, queue, name string, f Figures) []string {
	if name != "" && (name[0] == '=' || name[0] == '+' || name[0] == '-' || name[0] == '@' || name[0] == '\t' || name[0] == '\r') {
		name = "'" + name
	}
	num := func(v *float64) string {
		if v == nil {
			return ""
		}
		return strconv.FormatFloat(*v, 'f', -1, 64)
	}
	return []string{day, queue, name, strconv.Itoa(f.Closed), strconv.Itoa(f.Completed), strconv.Itoa(f.Cancelled),
		num(f.AvgWaitSeconds), num(f.P90WaitSeconds), num(f.AvgConsultationSeconds), strconv.Itoa(f.Calls),
		strconv.Itoa(f.FeedbackGood), strconv.Itoa(f.FeedbackOK), strconv.Itoa(f.FeedbackBad)}
}
