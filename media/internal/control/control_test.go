package control

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/contract/nodeapi"
)

const secret = "0123456789abcdef-secret"

// fakeRooms records calls and answers from its room map.
type fakeRooms struct {
	mu    sync.Mutex
	rooms map[string][]string
	calls []string
}

func (f *fakeRooms) RemoveParticipant(room, participant string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "remove "+room+" "+participant)
	ps := f.rooms[room]
	for i, p := range ps {
		if p == participant {
			f.rooms[room] = append(ps[:i:i], ps[i+1:]...)
			return true
		}
	}
	return false
}

func (f *fakeRooms) EndRoom(room string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "end "+room)
	_, ok := f.rooms[room]
	delete(f.rooms, room)
	return ok
}

func (f *fakeRooms) Rooms() []nodeapi.Room {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []nodeapi.Room
	for id, ps := range f.rooms {
		out = append(out, nodeapi.Room{ID: id, Participants: append([]string(nil), ps...)})
	}
	return out
}

func (f *fakeRooms) recorded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func newServer(t *testing.T, rooms *fakeRooms) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	h := New(Params{Secret: secret, Rooms: rooms})
	for _, p := range Patterns {
		mux.Handle(p, h)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, srv *httptest.Server, method, path, auth string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	}
	return resp, body
}

func TestControlRequiresTheSecret(t *testing.T) {
	rooms := &fakeRooms{rooms: map[string][]string{"c1": {"p1"}}}
	srv := newServer(t, rooms)
	for _, path := range []struct{ method, path string }{
		{http.MethodPost, "/control/v1/rooms/c1/participants/p1/remove"},
		{http.MethodPost, "/control/v1/rooms/c1/end"},
		{http.MethodGet, "/control/v1/rooms"},
		{http.MethodDelete, "/control/v1/rooms"}, // wrong method: still 401, not 405
	} {
		for name, auth := range map[string]string{
			"none":         "",
			"wrong":        "Bearer 0123456789abcdef-secreT",
			"prefix":       "Bearer " + secret[:len(secret)-1],
			"longer":       "Bearer " + secret + "x",
			"basic":        "Basic " + secret,
			"no scheme":    secret,
			"empty bearer": "Bearer ",
		} {
			t.Run(path.method+" "+path.path+" "+name, func(t *testing.T) {
				resp, body := do(t, srv, path.method, path.path, auth)
				assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
				assert.Equal(t, map[string]any{"error": map[string]any{"code": "unauthenticated", "message": "the node secret is required"}}, body)
			})
		}
	}
	assert.Empty(t, rooms.recorded(), "nothing reached the rooms")
}

func TestControlRemoveParticipant(t *testing.T) {
	rooms := &fakeRooms{rooms: map[string][]string{"c1": {"p1", "p2"}}}
	srv := newServer(t, rooms)

	resp, body := do(t, srv, http.MethodPost, "/control/v1/rooms/c1/participants/p1/remove", "Bearer "+secret)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, map[string]any{"removed": true}, body)
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))

	// Idempotent: removing again is not an error, it just says so.
	resp, body = do(t, srv, http.MethodPost, "/control/v1/rooms/c1/participants/p1/remove", "Bearer "+secret)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, map[string]any{"removed": false}, body)
	assert.Equal(t, []string{"remove c1 p1", "remove c1 p1"}, rooms.recorded())
}

func TestControlEndRoom(t *testing.T) {
	rooms := &fakeRooms{rooms: map[string][]string{"c1": {"p1"}}}
	srv := newServer(t, rooms)
	resp, body := do(t, srv, http.MethodPost, "/control/v1/rooms/c1/end", "Bearer "+secret)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, map[string]any{"ended": true}, body)
	_, body = do(t, srv, http.MethodPost, "/control/v1/rooms/c1/end", "Bearer "+secret)
	assert.Equal(t, map[string]any{"ended": false}, body)
}

func TestControlListsRooms(t *testing.T) {
	srv := newServer(t, &fakeRooms{rooms: map[string][]string{"c1": {"p1", "p2"}}})
	resp, err := func() (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/control/v1/rooms", nil)
		nodeapi.Authorize(req, secret)
		return srv.Client().Do(req)
	}()
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var got nodeapi.Rooms
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	assert.Equal(t, nodeapi.Rooms{Rooms: []nodeapi.Room{{ID: "c1", Participants: []string{"p1", "p2"}}}}, got)
}

func TestControlListsNoRoomsAsAnEmptyList(t *testing.T) {
	srv := newServer(t, &fakeRooms{})
	resp, body := do(t, srv, http.MethodGet, "/control/v1/rooms", "Bearer "+secret)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, map[string]any{"rooms": []any{}}, body, "[] not null")
}

func TestControlValidatesPathValues(t *testing.T) {
	rooms := &fakeRooms{rooms: map[string][]string{}}
	srv := newServer(t, rooms)
	long := strings.Repeat("a", 129)
	for name, path := range map[string]string{
		"room too long":        "/control/v1/rooms/" + long + "/end",
		"participant too long": "/control/v1/rooms/c1/participants/" + long + "/remove",
		"control character":    "/control/v1/rooms/c%0A1/end",
		"escaped slash":        "/control/v1/rooms/c%2F1/end",
		"invalid utf-8":        "/control/v1/rooms/c%FF/participants/p1/remove",
		"nul":                  "/control/v1/rooms/c1/participants/p%001/remove",
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := do(t, srv, http.MethodPost, path, "Bearer "+secret)
			assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
			assert.Equal(t, "invalid_request", body["error"].(map[string]any)["code"])
		})
	}
	// 128 is the longest accepted.
	resp, _ := do(t, srv, http.MethodPost, "/control/v1/rooms/"+long[:128]+"/end", "Bearer "+secret)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, []string{"end " + long[:128]}, rooms.recorded())
}

func TestControlWrongMethodAfterAuth(t *testing.T) {
	srv := newServer(t, &fakeRooms{})
	resp, _ := do(t, srv, http.MethodGet, "/control/v1/rooms/c1/end", "Bearer "+secret)
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}
