package medianode

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hcw-home/hcw/contract/nodeapi"
)

// Command kinds.
const (
	CommandEndRoom           = "end_room"
	CommandRemoveParticipant = "remove_participant"
)

// Command outcomes.
const (
	outcomeSent     = "sent"
	outcomeFailed   = "failed"
	outcomeNodeGone = "node_gone"
)

// claimBatch bounds the commands one worker claims at once.
const claimBatch = 16

// The worker's times come from the database (clock_timestamp), never from
// Params.Now: a command written under a test's or a skewed clock is still
// due at once.
const (
	sqlEnqueue = `
INSERT INTO media_commands (node_id, kind, room, participant, created_at, next_attempt_at)
VALUES ($1, $2, $3, $4, clock_timestamp(), clock_timestamp())`
	// Claiming leases the commands (next_attempt_at moves past the call's
	// timeout), so another replica skips them meanwhile.
	sqlClaim = `
UPDATE media_commands c SET attempts = c.attempts + 1,
    next_attempt_at = clock_timestamp() + make_interval(secs => $1)
FROM (SELECT id FROM media_commands WHERE done_at IS NULL AND next_attempt_at <= clock_timestamp()
      ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED) due
WHERE c.id = due.id
RETURNING c.id, c.node_id, c.kind, c.room, c.participant, c.attempts,
    coalesce((SELECT upstream FROM media_nodes n WHERE n.id = c.node_id), '') AS upstream`
	sqlCommandDone  = `UPDATE media_commands SET done_at = clock_timestamp(), outcome = $2 WHERE id = $1`
	sqlCommandRetry = `
UPDATE media_commands SET next_attempt_at = clock_timestamp() + make_interval(secs => $2) WHERE id = $1`
	sqlPurgeCommands = `
DELETE FROM media_commands WHERE done_at < clock_timestamp() - make_interval(secs => $1)`
)

// EndRoom queues, inside tx, the end of room on node: everyone in it is
// disconnected. Poke the worker once tx has committed.
func EndRoom(ctx context.Context, tx Execer, node, room string) error {
	if _, err := tx.Exec(ctx, sqlEnqueue, node, CommandEndRoom, room, ""); err != nil {
		return fmt.Errorf("queue end of room: %w", err)
	}
	return nil
}

// RemoveParticipant queues, inside tx, the removal of participant (a grant
// subject) from room on node. Poke the worker once tx has committed.
func RemoveParticipant(ctx context.Context, tx Execer, node, room, participant string) error {
	if _, err := tx.Exec(ctx, sqlEnqueue, node, CommandRemoveParticipant, room, participant); err != nil {
		return fmt.Errorf("queue removal from room: %w", err)
	}
	return nil
}

// Poke wakes this replica's worker: commands just committed are sent now
// rather than at the next poll. It never blocks.
func (s *Service) Poke() {
	if s == nil {
		return
	}
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

type command struct {
	ID          int64  `db:"id"`
	NodeID      string `db:"node_id"`
	Kind        string `db:"kind"`
	Room        string `db:"room"`
	Participant string `db:"participant"`
	Attempts    int    `db:"attempts"`
	Upstream    string `db:"upstream"`
}

// RunControl sends due commands until ctx ends: at once when poked, else
// every PollInterval. Each command is tried MaxAttempts times with growing
// pauses; a failure is logged, never fatal.
func (s *Service) RunControl(ctx context.Context) {
	t := time.NewTicker(s.p.PollInterval)
	defer t.Stop()
	for {
		s.SendDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-s.poke:
		case <-t.C:
		}
	}
}

// SendDue claims the commands due now and sends them, in parallel, until
// none is left.
func (s *Service) SendDue(ctx context.Context) {
	for ctx.Err() == nil {
		lease := (s.p.ControlTimeout + 2*time.Second).Seconds()
		rows, _ := s.p.Pool.Query(ctx, sqlClaim, lease, claimBatch)
		cmds, err := pgx.CollectRows(rows, pgx.RowToStructByName[command])
		if err != nil {
			if ctx.Err() == nil {
				s.p.Logger.Error("media control: claim commands", "error", err.Error())
			}
			return
		}
		if len(cmds) == 0 {
			return
		}
		var wg sync.WaitGroup
		for _, c := range cmds {
			wg.Go(func() { s.settle(ctx, c) })
		}
		wg.Wait()
	}
}

// settle sends one claimed command and records the outcome.
func (s *Service) settle(ctx context.Context, c command) {
	log := s.p.Logger.With("command", c.Kind, "node", c.NodeID, "attempt", c.Attempts)
	var outcome string
	var err error
	if c.Upstream == "" {
		// The node is gone: its rooms went with it.
		outcome = outcomeNodeGone
	} else if err = s.send(ctx, c); err == nil {
		outcome = outcomeSent
	}
	if err != nil && c.Attempts < s.p.MaxAttempts {
		// 0.25 s, 0.5 s, 1 s, 2 s ...: the first retries stay within the
		// few seconds a removal is promised in.
		pause := (250 * time.Millisecond) << (c.Attempts - 1)
		log.Warn("media control failed; will retry", "error", err.Error(), "retry_in", pause.String())
		if _, dbErr := s.p.Pool.Exec(context.WithoutCancel(ctx), sqlCommandRetry, c.ID, pause.Seconds()); dbErr != nil {
			log.Error("media control: schedule retry", "error", dbErr.Error())
		}
		return
	}
	if err != nil {
		outcome = outcomeFailed
		log.Error("media control failed; giving up", "error", err.Error())
	}
	if _, dbErr := s.p.Pool.Exec(context.WithoutCancel(ctx), sqlCommandDone, c.ID, outcome); dbErr != nil {
		log.Error("media control: record outcome", "error", dbErr.Error())
		return
	}
	log.Info("media control", "outcome", outcome)
}

// send makes the control call. A 404 (no such room or participant on the
// node) is success: there is nothing left to end.
func (s *Service) send(ctx context.Context, c command) error {
	var path string
	switch c.Kind {
	case CommandEndRoom:
		path = strings.Replace(nodeapi.PathEndRoom, "{room}", url.PathEscape(c.Room), 1)
	case CommandRemoveParticipant:
		path = strings.NewReplacer("{room}", url.PathEscape(c.Room), "{participant}", url.PathEscape(c.Participant)).
			Replace(nodeapi.PathRemoveParticipant)
	default:
		return fmt.Errorf("unknown command %q", c.Kind)
	}
	ctx, cancel := context.WithTimeout(ctx, s.p.ControlTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+c.Upstream+path, http.NoBody)
	if err != nil {
		return err
	}
	nodeapi.Authorize(req, s.p.Secret)
	res, err := s.p.Client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode/100 == 2 || res.StatusCode == http.StatusNotFound {
		return nil
	}
	return fmt.Errorf("node answered %d", res.StatusCode)
}
