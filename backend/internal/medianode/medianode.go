// Package medianode keeps the pool of media nodes in PostgreSQL: their
// heartbeats (contract/nodeapi), their health, the placement of a call on
// the least-loaded healthy node, and the control commands the backend owes
// them (end a room, remove a participant).
//
// A node is healthy while its last heartbeat is younger than
// nodeapi.NodeTimeout. Placement is done inside the caller's transaction,
// which holds the call's row lock, so two first joins of one call agree on
// its node. Control commands are written in the transaction of the change
// that needs them (an outbox) and sent by a worker on every replica: the
// replica that made the change wakes its own worker at once (Poke), the
// others poll every PollInterval, and a claimed command is leased so two
// replicas never send it at the same time.
package medianode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hcw-home/hcw/contract/nodeapi"
)

// Defaults of Params.
const (
	DefaultControlTimeout = 3 * time.Second
	DefaultPollInterval   = time.Second
	DefaultMaxAttempts    = 5
	// StaleAfter is how long a node that stopped heartbeating (without a
	// clean DELETE) stays listed, unhealthy, before Purge removes it.
	StaleAfter = 24 * time.Hour
	// commandRetention is how long sent and failed commands are kept.
	commandRetention = 7 * 24 * time.Hour
)

// Limits of a heartbeat.
const (
	MinCapacity   = 1
	MaxCapacity   = 100000
	MaxVersionLen = 64
	maxUpstream   = 261 // a 253-byte host name, ':' and a port
)

// Errors.
var (
	// ErrNoNode means no healthy node has room for a new call.
	ErrNoNode = errors.New("no media node available")
	// ErrInvalidID means the node id is not a nodeapi.ValidID.
	ErrInvalidID = errors.New("invalid media node id")
)

// FieldError refuses a heartbeat field.
type FieldError struct {
	Field, Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Params configures New.
type Params struct {
	Pool *pgxpool.Pool
	// Secret is the node secret, sent as the bearer of control calls.
	Secret string
	// MediaHost is the public host of signalling URLs:
	// wss://<MediaHost>/n/<node id>/signal.
	MediaHost string
	Logger    *slog.Logger
	// Now is the clock of heartbeats and health; time.Now if nil.
	Now func() time.Time
	// Client sends control calls; one with ControlTimeout and no redirects
	// if nil.
	Client *http.Client
	// ControlTimeout bounds one control call (default 3 s).
	ControlTimeout time.Duration
	// PollInterval is how often the worker looks for due commands besides
	// being poked (default 1 s).
	PollInterval time.Duration
	// MaxAttempts is how many times a command is tried before it is given
	// up and logged (default 5).
	MaxAttempts int
}

// Service is the node pool. It is safe for concurrent use.
type Service struct {
	p    Params
	poke chan struct{}
}

// New returns a Service. The migrations must have run.
func New(p Params) *Service {
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.ControlTimeout <= 0 {
		p.ControlTimeout = DefaultControlTimeout
	}
	if p.PollInterval <= 0 {
		p.PollInterval = DefaultPollInterval
	}
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.Client == nil {
		p.Client = &http.Client{
			Timeout: p.ControlTimeout,
			// A node answers; it never sends the secret elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &Service{p: p, poke: make(chan struct{}, 1)}
}

func (s *Service) now() time.Time { return s.p.Now().UTC().Truncate(time.Microsecond) }

// healthySince is the oldest heartbeat of a healthy node.
func (s *Service) healthySince() time.Time { return s.now().Add(-nodeapi.NodeTimeout) }

// SignalURL is the public signalling URL of node id.
func (s *Service) SignalURL(id string) string {
	return "wss://" + s.p.MediaHost + "/n/" + id + "/signal"
}

// Node is a media node as the backend sees it.
type Node struct {
	ID, Upstream, SignalURL string
	Capacity                int
	Load                    nodeapi.Load
	Draining                bool
	Version                 string
	LastSeen, RegisteredAt  time.Time
	// Healthy: a heartbeat within nodeapi.NodeTimeout.
	Healthy bool
}

// nodeRow is a media_nodes row with its health at the time of the query.
type nodeRow struct {
	ID               string    `db:"id"`
	Upstream         string    `db:"upstream"`
	SignalURL        string    `db:"signal_url"`
	Capacity         int       `db:"capacity"`
	LoadRooms        int       `db:"load_rooms"`
	LoadParticipants int       `db:"load_participants"`
	LoadTracks       int       `db:"load_tracks"`
	LoadBitrate      int64     `db:"load_bitrate"`
	Draining         bool      `db:"draining"`
	Version          string    `db:"version"`
	LastSeen         time.Time `db:"last_seen"`
	RegisteredAt     time.Time `db:"registered_at"`
	Healthy          bool      `db:"healthy"`
}

func (r nodeRow) node() Node {
	return Node{ID: r.ID, Upstream: r.Upstream, SignalURL: r.SignalURL, Capacity: r.Capacity,
		Load:     nodeapi.Load{Rooms: r.LoadRooms, Participants: r.LoadParticipants, Tracks: r.LoadTracks, Bitrate: r.LoadBitrate},
		Draining: r.Draining, Version: r.Version, LastSeen: r.LastSeen, RegisteredAt: r.RegisteredAt, Healthy: r.Healthy}
}

// $1 of every select is the oldest heartbeat of a healthy node.
const nodeSelect = `
SELECT id, upstream, signal_url, capacity, load_rooms, load_participants, load_tracks, load_bitrate,
    draining, version, last_seen, registered_at, last_seen > $1 AS healthy
FROM media_nodes`

const (
	sqlUpsertNode = `
INSERT INTO media_nodes (id, upstream, signal_url, capacity, load_rooms, load_participants, load_tracks, load_bitrate,
                         draining, version, last_seen, registered_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
ON CONFLICT (id) DO UPDATE SET
    upstream = excluded.upstream, signal_url = excluded.signal_url, capacity = excluded.capacity,
    load_rooms = excluded.load_rooms, load_participants = excluded.load_participants,
    load_tracks = excluded.load_tracks, load_bitrate = excluded.load_bitrate,
    draining = excluded.draining, version = excluded.version, last_seen = excluded.last_seen`
	sqlDeleteNode = `DELETE FROM media_nodes WHERE id = $1`
	sqlNodes      = nodeSelect + ` ORDER BY id`
	sqlNode       = nodeSelect + ` WHERE id = $2`
	// The least-loaded healthy node with room: by share of capacity in
	// use, then rooms, then id so that ties are stable. A node's load is
	// what it last reported, but at least two participants for each open
	// call placed on it: calls placed since its last heartbeat (a burst of
	// new calls within two seconds) count before their participants
	// arrive, so they spread instead of all landing on one node.
	sqlLeastLoaded = nodeSelect + `
WHERE last_seen > $1 AND NOT draining AND load_participants < capacity
ORDER BY greatest(load_participants,
                  2 * (SELECT count(*) FROM calls c WHERE c.node_id = media_nodes.id AND c.state <> 'ended'))::float8 / capacity,
         load_rooms, id
LIMIT 1`
	sqlPurgeNodes = `DELETE FROM media_nodes WHERE last_seen < $1`
)

// ValidateHeartbeat checks what a node says about itself.
func ValidateHeartbeat(hb nodeapi.Heartbeat) error {
	if err := validateUpstream(hb.Upstream); err != nil {
		return err
	}
	switch {
	case hb.Capacity < MinCapacity || hb.Capacity > MaxCapacity:
		return &FieldError{"capacity", fmt.Sprintf("must be %d to %d", MinCapacity, MaxCapacity)}
	case hb.Load.Rooms < 0:
		return &FieldError{"load.rooms", "must not be negative"}
	case hb.Load.Participants < 0:
		return &FieldError{"load.participants", "must not be negative"}
	case hb.Load.Tracks < 0:
		return &FieldError{"load.tracks", "must not be negative"}
	case hb.Load.Bitrate < 0:
		return &FieldError{"load.bitrate", "must not be negative"}
	case len(hb.Version) > MaxVersionLen:
		return &FieldError{"version", fmt.Sprintf("must be at most %d bytes", MaxVersionLen)}
	}
	for _, c := range hb.Version {
		if !unicode.IsPrint(c) || c > unicode.MaxASCII {
			return &FieldError{"version", "must be printable ASCII"}
		}
	}
	return nil
}

// validateUpstream accepts host:port with a DNS name or an IP address and
// a numeric port: the backend sends control calls to http://<upstream>.
func validateUpstream(u string) error {
	bad := &FieldError{"upstream", "must be host:port (a host name or IP address and a port 1-65535)"}
	if u == "" || len(u) > maxUpstream {
		return bad
	}
	host, port, err := net.SplitHostPort(u)
	if err != nil || host == "" {
		return bad
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		return bad
	}
	if net.ParseIP(host) != nil {
		return nil
	}
	if !isHostName(host) {
		return bad
	}
	return nil
}

func isHostName(s string) bool {
	if len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// Heartbeat registers node id or refreshes it, and tells it its public
// signalling URL.
func (s *Service) Heartbeat(ctx context.Context, id string, hb nodeapi.Heartbeat) (nodeapi.HeartbeatReply, error) {
	if !nodeapi.ValidID(id) {
		return nodeapi.HeartbeatReply{}, ErrInvalidID
	}
	if err := ValidateHeartbeat(hb); err != nil {
		return nodeapi.HeartbeatReply{}, err
	}
	reply := nodeapi.HeartbeatReply{SignalURL: s.SignalURL(id)}
	if _, err := s.p.Pool.Exec(ctx, sqlUpsertNode, id, hb.Upstream, reply.SignalURL, hb.Capacity,
		hb.Load.Rooms, hb.Load.Participants, hb.Load.Tracks, hb.Load.Bitrate, hb.Draining, hb.Version, s.now()); err != nil {
		return nodeapi.HeartbeatReply{}, fmt.Errorf("heartbeat of media node: %w", err)
	}
	return reply, nil
}

// Remove forgets node id (its clean shutdown). Calls placed on it are
// placed again on their next join. Removing an unknown node is no error.
func (s *Service) Remove(ctx context.Context, id string) error {
	if !nodeapi.ValidID(id) {
		return ErrInvalidID
	}
	if _, err := s.p.Pool.Exec(ctx, sqlDeleteNode, id); err != nil {
		return fmt.Errorf("remove media node: %w", err)
	}
	return nil
}

// Nodes lists every known node with its health, by id.
func (s *Service) Nodes(ctx context.Context) ([]Node, error) {
	rows, _ := s.p.Pool.Query(ctx, sqlNodes, s.healthySince())
	list, err := pgx.CollectRows(rows, pgx.RowToStructByName[nodeRow])
	if err != nil {
		return nil, fmt.Errorf("list media nodes: %w", err)
	}
	out := make([]Node, 0, len(list))
	for _, r := range list {
		out = append(out, r.node())
	}
	return out, nil
}

// Registry is the node list the edge routes signalling with. A draining
// node stays healthy here: its running calls still need their sockets.
func (s *Service) Registry(ctx context.Context) (nodeapi.Registry, error) {
	nodes, err := s.Nodes(ctx)
	if err != nil {
		return nodeapi.Registry{}, err
	}
	reg := nodeapi.Registry{Nodes: make([]nodeapi.RegistryNode, 0, len(nodes))}
	for _, n := range nodes {
		reg.Nodes = append(reg.Nodes, nodeapi.RegistryNode{ID: n.ID, Upstream: n.Upstream, Healthy: n.Healthy})
	}
	return reg, nil
}

// Place returns the node a call goes to, inside tx, which must hold the
// call's row lock: current, the call's node so far, while it is healthy
// (even draining or full: the call's other participants are there);
// otherwise the least-loaded healthy node that is not draining and below
// its capacity; ErrNoNode when there is none.
func (s *Service) Place(ctx context.Context, tx pgx.Tx, current string) (Node, error) {
	since := s.healthySince()
	if current != "" {
		rows, _ := tx.Query(ctx, sqlNode, since, current)
		r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[nodeRow])
		switch {
		case err == nil && r.Healthy:
			return r.node(), nil
		case err != nil && !errors.Is(err, pgx.ErrNoRows):
			return Node{}, fmt.Errorf("place call: %w", err)
		}
	}
	rows, _ := tx.Query(ctx, sqlLeastLoaded, since)
	r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[nodeRow])
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Node{}, ErrNoNode
	case err != nil:
		return Node{}, fmt.Errorf("place call: %w", err)
	}
	return r.node(), nil
}

// Purge removes nodes silent for StaleAfter and commands settled more than
// a week ago. It returns the number of nodes removed.
func (s *Service) Purge(ctx context.Context) (int64, error) {
	tag, err := s.p.Pool.Exec(ctx, sqlPurgeNodes, s.now().Add(-StaleAfter))
	if err != nil {
		return 0, fmt.Errorf("purge media nodes: %w", err)
	}
	if _, err := s.p.Pool.Exec(ctx, sqlPurgeCommands, commandRetention.Seconds()); err != nil {
		return 0, fmt.Errorf("purge media commands: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Execer is a transaction or a pool.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}
