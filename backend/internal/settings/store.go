package settings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Keys of the settings table: the JSON names of the document's fields,
// one row each. A row that is missing means the default; the invite
// overrides have no row while they are not set.
const (
	keyProductName   = "product_name"
	keyClinicName    = "clinic_name"
	keyPrimaryColor  = "primary_color"
	keyAccentColor   = "accent_color"
	keyRetentionDays = "closed_consultation_retention_days"
	keyLanguages     = "languages"
	keyInviteTTL     = "invite_ttl_minutes"
	keyInviteEarly   = "invite_early_minutes"
)

// fields maps each key to its field in s, for decoding and encoding.
func (s *Settings) fields() map[string]any {
	return map[string]any{
		keyProductName: &s.ProductName, keyClinicName: &s.ClinicName,
		keyPrimaryColor: &s.PrimaryColor, keyAccentColor: &s.AccentColor,
		keyRetentionDays: &s.ClosedConsultationRetentionDays, keyLanguages: &s.Languages,
		keyInviteTTL: &s.InviteTTLMinutes, keyInviteEarly: &s.InviteEarlyMinutes,
	}
}

// settingsLockKey is the pg_advisory_xact_lock key that serialises
// changes across replicas, so each one's audit record compares against
// what the one before it wrote ("HCWSETT" in ASCII).
const settingsLockKey int64 = 0x48_43_57_53_45_54_54

const (
	sqlLock        = `SELECT pg_advisory_xact_lock($1)`
	sqlSettingsAll = `SELECT key, value FROM settings`
	sqlSettingPut  = `
INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at`
	sqlSettingDelete = `DELETE FROM settings WHERE key = $1`

	sqlLogoInfo = `
SELECT content_type, octet_length(image) AS size, sha256, updated_at FROM branding_logo`
	sqlLogoImage = `SELECT content_type, image, sha256 FROM branding_logo`
	sqlLogoPut   = `
INSERT INTO branding_logo (id, content_type, image, sha256, updated_at) VALUES (true, $1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET content_type = EXCLUDED.content_type, image = EXCLUDED.image,
    sha256 = EXCLUDED.sha256, updated_at = EXCLUDED.updated_at`
	sqlLogoDelete = `DELETE FROM branding_logo RETURNING sha256`
)

type settingRow struct {
	Key   string `db:"key"`
	Value []byte `db:"value"`
}

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// readSettings reads the stored settings over the defaults. A stored
// value that no longer decodes or validates (written by another version)
// falls back to its default and is reported through bad, so one broken
// row never takes the branding of every app down.
func readSettings(ctx context.Context, q querier, defaultTTL, defaultEarly time.Duration, bad func(key string)) (Settings, error) {
	rows, _ := q.Query(ctx, sqlSettingsAll)
	stored, err := pgx.CollectRows(rows, pgx.RowToStructByName[settingRow])
	if err != nil {
		return Settings{}, fmt.Errorf("read settings: %w", err)
	}
	s := Defaults()
	fields := s.fields()
	for _, row := range stored {
		dst, known := fields[row.Key]
		if !known {
			continue // a key of another version or feature
		}
		if err := json.Unmarshal(row.Value, dst); err != nil {
			bad(row.Key)
			s.reset(row.Key)
		}
	}
	// Each refusal names one field; resetting it to its default can only
	// make the document valid, so this ends within one pass per field.
	for range len(fields) + 1 {
		norm, err := s.Normalize(defaultTTL, defaultEarly)
		var fe *FieldError
		if !errors.As(err, &fe) {
			return norm, err
		}
		bad(fe.Field)
		s.reset(fe.Field)
	}
	return Defaults(), nil
}

// reset puts the default back into field key of s.
func (s *Settings) reset(key string) {
	d := Defaults()
	raw, _ := json.Marshal(d.fields()[key])
	_ = json.Unmarshal(raw, s.fields()[key])
	if key == keyInviteTTL || key == keyInviteEarly {
		// The two are checked against each other: drop both overrides.
		s.InviteTTLMinutes, s.InviteEarlyMinutes = nil, nil
	}
}

// writeSettings stores every field of s in tx; an unset override has no
// row.
func writeSettings(ctx context.Context, tx pgx.Tx, s Settings, now time.Time) error {
	for key, v := range s.fields() {
		var err error
		if p, ok := v.(**int); ok && *p == nil {
			_, err = tx.Exec(ctx, sqlSettingDelete, key)
		} else {
			var raw []byte
			if raw, err = json.Marshal(v); err == nil {
				_, err = tx.Exec(ctx, sqlSettingPut, key, json.RawMessage(raw), now)
			}
		}
		if err != nil {
			return fmt.Errorf("write setting %s: %w", key, err)
		}
	}
	return nil
}

// LogoInfo describes the stored logo without its bytes.
type LogoInfo struct {
	ContentType string    `db:"content_type"`
	Size        int       `db:"size"`
	SHA256      []byte    `db:"sha256"`
	UpdatedAt   time.Time `db:"updated_at"`
}

// Logo is the stored logo.
type Logo struct {
	ContentType string `db:"content_type"`
	Image       []byte `db:"image"`
	SHA256      []byte `db:"sha256"`
}

// readLogoInfo reads the logo's description; ErrNoLogo when there is
// none.
func readLogoInfo(ctx context.Context, q querier) (LogoInfo, error) {
	rows, _ := q.Query(ctx, sqlLogoInfo)
	info, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[LogoInfo])
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return LogoInfo{}, ErrNoLogo
	case err != nil:
		return LogoInfo{}, fmt.Errorf("read logo: %w", err)
	}
	return info, nil
}

// readLogo reads the logo with its bytes; ErrNoLogo when there is none.
func readLogo(ctx context.Context, q querier) (Logo, error) {
	rows, _ := q.Query(ctx, sqlLogoImage)
	logo, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Logo])
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Logo{}, ErrNoLogo
	case err != nil:
		return Logo{}, fmt.Errorf("read logo: %w", err)
	}
	return logo, nil
}
