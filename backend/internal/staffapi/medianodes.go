package staffapi

import (
	"net/http"
	"time"

	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
)

type mediaNodeLoadBody struct {
	Rooms        int   `json:"rooms"`
	Participants int   `json:"participants"`
	Tracks       int   `json:"tracks"`
	Bitrate      int64 `json:"bitrate" doc:"outgoing media bit rate, bits/s"`
}

type mediaNodeBody struct {
	ID        string            `json:"id"`
	SignalURL string            `json:"signal_url"`
	Capacity  int               `json:"capacity" doc:"the most participants the node accepts"`
	Load      mediaNodeLoadBody `json:"load" doc:"as of the node's last heartbeat"`
	Draining  bool              `json:"draining" doc:"takes no new calls; running ones continue"`
	Healthy   bool              `json:"healthy" doc:"a heartbeat within the node timeout (10 s)"`
	Version   string            `json:"version,omitempty"`
	LastSeen  time.Time         `json:"last_seen"`
}

type mediaNodeListBody struct {
	Nodes []mediaNodeBody `json:"nodes"`
}

func (a *API) mountMediaNodes(rt *httpapi.Router) {
	rt.HandleFunc(httpapi.Operation{Method: http.MethodGet, Path: "/api/v1/admin/media-nodes", ID: "listMediaNodes",
		Tags: []string{"admin: media"}, Auth: httpapi.AuthAny, Permission: authz.PermMediaNodesRead,
		Summary:  "The media nodes with their capacity, load, health and drain state, by id.",
		Response: mediaNodeListBody{}, Errors: []int{401, 403}}, a.listMediaNodes)
}

func (a *API) listMediaNodes(w http.ResponseWriter, r *http.Request) {
	out := mediaNodeListBody{Nodes: []mediaNodeBody{}}
	if a.p.MediaNodes != nil {
		nodes, err := a.p.MediaNodes.Nodes(r.Context())
		if err != nil {
			a.writeErr(w, r, err)
			return
		}
		for _, n := range nodes {
			out.Nodes = append(out.Nodes, mediaNodeBody{ID: n.ID, SignalURL: n.SignalURL, Capacity: n.Capacity,
				Load:     mediaNodeLoadBody{Rooms: n.Load.Rooms, Participants: n.Load.Participants, Tracks: n.Load.Tracks, Bitrate: n.Load.Bitrate},
				Draining: n.Draining, Healthy: n.Healthy, Version: n.Version, LastSeen: n.LastSeen})
		}
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
}
