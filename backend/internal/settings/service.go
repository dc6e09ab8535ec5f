package settings

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hcw-home/hcw/backend/internal/audit"
)

// Audit actions. A change records one settings.changed event per setting
// that changed, its object_id as Changes describes it; the logo events
// name the image by the first 16 hex digits of its SHA-256
// ("logo:<digits>").
const (
	ActionChanged     = "settings.changed"
	ActionLogoChanged = "settings.logo_changed"
	ActionLogoRemoved = "settings.logo_removed"
)

// DefaultCacheTTL is how long a replica serves its copy of the settings
// before reading them again: how late another replica's change shows.
const DefaultCacheTTL = 5 * time.Second

// loadTimeout bounds one read of the settings, whoever waits for it.
const loadTimeout = 5 * time.Second

// Params configures New.
type Params struct {
	Pool  *pgxpool.Pool
	Audit *audit.Store
	// Logger receives the settings that were stored but no longer
	// validate, and reads that failed while a stale copy was served.
	Logger *slog.Logger
	// InviteTTL and InviteEarly are the environment's invite timing
	// (HCW_INVITE_TTL, HCW_INVITE_EARLY), in force while the settings
	// override neither.
	InviteTTL, InviteEarly time.Duration
	// CacheTTL is DefaultCacheTTL when not positive.
	CacheTTL time.Duration
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// Actor is who changes the settings, as the audit trail records it.
type Actor struct {
	// Type is audit.ActorUser or audit.ActorAPIKey.
	Type, ID string
	ClientIP netip.Addr
}

// Snapshot is the settings and the logo's description at one moment.
type Snapshot struct {
	Settings Settings
	// Logo is nil when no logo is stored.
	Logo *LogoInfo
}

// ETag is the logo's strong entity tag: its SHA-256 in hex, quoted.
func (l LogoInfo) ETag() string { return `"` + hex.EncodeToString(l.SHA256) + `"` }

// Version is a short name of the image, for URLs that change with it.
func (l LogoInfo) Version() string { return hex.EncodeToString(l.SHA256)[:16] }

// Service reads, caches and changes the settings. It is safe for
// concurrent use.
type Service struct {
	p Params

	// loadMu lets one caller at a time read the database when the copy is
	// stale; the others wait for it and take its result.
	loadMu sync.Mutex

	mu       sync.Mutex
	cur      *Snapshot
	loadedAt time.Time
	// gen counts invalidations: a read that started before one does not
	// replace the cache with what it read.
	gen uint64
	// logo is the last image served, reused while its digest is current.
	logo *Logo
}

// New returns a Service. The migrations must have run.
func New(p Params) *Service {
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	if p.CacheTTL <= 0 {
		p.CacheTTL = DefaultCacheTTL
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	return &Service{p: p}
}

// InviteDefaults are the environment's invite validity and opening lead.
func (s *Service) InviteDefaults() (ttl, early time.Duration) { return s.p.InviteTTL, s.p.InviteEarly }

// Current returns the settings, from this replica's copy while it is
// younger than CacheTTL. When the database cannot be read and a copy
// exists, the copy is answered, however old: the apps keep their
// branding and invites their timing through a database outage.
func (s *Service) Current(ctx context.Context) (Snapshot, error) {
	if snap, ok := s.fresh(); ok {
		return snap, nil
	}
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if snap, ok := s.fresh(); ok {
		return snap, nil // read by the caller we waited for
	}
	s.mu.Lock()
	gen, stale := s.gen, s.cur
	s.mu.Unlock()
	// The read is bounded and outlives a caller that gives up, so the
	// callers queued behind it still get its result.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
	defer cancel()
	snap, err := s.Load(lctx)
	if err != nil {
		if stale != nil {
			s.p.Logger.Warn("settings: read failed; serving the cached copy", "error", err.Error())
			return *stale, nil
		}
		return Snapshot{}, err
	}
	s.mu.Lock()
	if s.gen == gen {
		s.cur, s.loadedAt = &snap, s.p.Now()
	}
	s.mu.Unlock()
	return snap, nil
}

func (s *Service) fresh() (Snapshot, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil || s.p.Now().Sub(s.loadedAt) >= s.p.CacheTTL {
		return Snapshot{}, false
	}
	return *s.cur, true
}

// invalidate drops this replica's copy after a change.
func (s *Service) invalidate() {
	s.mu.Lock()
	s.gen++
	s.cur = nil
	s.mu.Unlock()
}

// Load reads the settings from the database, bypassing the cache.
func (s *Service) Load(ctx context.Context) (Snapshot, error) {
	set, err := readSettings(ctx, s.p.Pool, s.p.InviteTTL, s.p.InviteEarly, s.badValue)
	if err != nil {
		return Snapshot{}, err
	}
	snap := Snapshot{Settings: set}
	info, err := readLogoInfo(ctx, s.p.Pool)
	switch {
	case err == nil:
		snap.Logo = &info
	case !errors.Is(err, ErrNoLogo):
		return Snapshot{}, err
	}
	return snap, nil
}

func (s *Service) badValue(key string) {
	s.p.Logger.Error("settings: stored value is invalid; using the default", "key", key)
}

// InviteTiming is the invite validity and opening lead in force: the
// settings' overrides where set, else the environment's. Package
// consultation reads it for every invite it issues or redeems.
func (s *Service) InviteTiming(ctx context.Context) (ttl, early time.Duration, err error) {
	snap, err := s.Current(ctx)
	if err != nil {
		return 0, 0, err
	}
	ttl, early = snap.Settings.inviteTiming(s.p.InviteTTL, s.p.InviteEarly)
	return ttl, early, nil
}

// OfferedLanguages are the languages offered to patients, in order.
func (s *Service) OfferedLanguages(ctx context.Context) ([]string, error) {
	snap, err := s.Current(ctx)
	if err != nil {
		return nil, err
	}
	return snap.Settings.Languages, nil
}

// RetentionDays is how many days closed consultations are kept.
func (s *Service) RetentionDays(ctx context.Context) (int, error) {
	snap, err := s.Current(ctx)
	if err != nil {
		return 0, err
	}
	return snap.Settings.ClosedConsultationRetentionDays, nil
}

// Update validates next and stores it whole, recording one audit event
// per setting that changed in the same transaction. A refusal is a
// *FieldError.
func (s *Service) Update(ctx context.Context, a Actor, next Settings) (Snapshot, error) {
	next, err := next.Normalize(s.p.InviteTTL, s.p.InviteEarly)
	if err != nil {
		return Snapshot{}, err
	}
	err = pgx.BeginFunc(ctx, s.p.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlLock, settingsLockKey); err != nil {
			return err
		}
		before, err := readSettings(ctx, tx, s.p.InviteTTL, s.p.InviteEarly, s.badValue)
		if err != nil {
			return err
		}
		if err := writeSettings(ctx, tx, next, s.p.Now()); err != nil {
			return err
		}
		var events []audit.Event
		for _, change := range Changes(before, next) {
			events = append(events, s.event(a, ActionChanged, change))
		}
		return s.p.Audit.AppendTx(ctx, tx, events...)
	})
	s.invalidate()
	if err != nil {
		return Snapshot{}, fmt.Errorf("update settings: %w", err)
	}
	return s.Load(ctx)
}

// SetLogo stores image as the logo after checking it (DetectLogo); a
// refusal is a *FieldError on "logo".
func (s *Service) SetLogo(ctx context.Context, a Actor, image []byte) (Snapshot, error) {
	typ, err := DetectLogo(image)
	if err != nil {
		return Snapshot{}, err
	}
	sum := sha256.Sum256(image)
	err = pgx.BeginFunc(ctx, s.p.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlLogoPut, typ, image, sum[:], s.p.Now()); err != nil {
			return err
		}
		return s.p.Audit.AppendTx(ctx, tx, s.event(a, ActionLogoChanged, "logo:"+hex.EncodeToString(sum[:8])))
	})
	s.invalidate()
	if err != nil {
		return Snapshot{}, fmt.Errorf("set logo: %w", err)
	}
	return s.Load(ctx)
}

// DeleteLogo removes the logo; ErrNoLogo when there is none.
func (s *Service) DeleteLogo(ctx context.Context, a Actor) error {
	err := pgx.BeginFunc(ctx, s.p.Pool, func(tx pgx.Tx) error {
		var sum []byte
		err := tx.QueryRow(ctx, sqlLogoDelete).Scan(&sum)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNoLogo
		}
		if err != nil {
			return err
		}
		return s.p.Audit.AppendTx(ctx, tx, s.event(a, ActionLogoRemoved, "logo:"+hex.EncodeToString(sum[:8])))
	})
	s.invalidate()
	if err != nil && !errors.Is(err, ErrNoLogo) {
		return fmt.Errorf("delete logo: %w", err)
	}
	return err
}

// Logo returns the logo with its bytes; ErrNoLogo when there is none.
// The image is kept in memory while its digest is the current one, so
// serving it costs no database read between changes.
func (s *Service) Logo(ctx context.Context) (Logo, error) {
	snap, err := s.Current(ctx)
	if err != nil {
		return Logo{}, err
	}
	if snap.Logo == nil {
		return Logo{}, ErrNoLogo
	}
	s.mu.Lock()
	cached := s.logo
	s.mu.Unlock()
	if cached != nil && bytes.Equal(cached.SHA256, snap.Logo.SHA256) {
		return *cached, nil
	}
	logo, err := readLogo(ctx, s.p.Pool)
	if err != nil {
		return Logo{}, err
	}
	s.mu.Lock()
	s.logo = &logo
	s.mu.Unlock()
	return logo, nil
}

func (s *Service) event(a Actor, action, objectID string) audit.Event {
	return audit.Event{ActorType: a.Type, ActorID: a.ID, ClientIP: a.ClientIP, Action: action,
		ObjectType: "setting", ObjectID: objectID, Outcome: audit.OutcomeSuccess}
}
