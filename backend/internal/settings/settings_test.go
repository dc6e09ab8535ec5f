package settings_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/settings"
)

const (
	envTTL   = 24 * time.Hour
	envEarly = 10 * time.Minute
)

func n(v int) *int { return &v }

func TestNormalize(t *testing.T) {
	ok := settings.Defaults()
	got, err := ok.Normalize(envTTL, envEarly)
	require.NoError(t, err)
	assert.Equal(t, settings.Defaults(), got, "the defaults are valid as they are")

	in := settings.Defaults()
	in.ProductName, in.ClinicName = "  Télé-santé  ", " Clinique du Lac "
	in.PrimaryColor, in.AccentColor = "#A1B2C3", "#ffFFff"
	in.Languages = []string{"ar", "en"}
	in.InviteTTLMinutes, in.InviteEarlyMinutes = n(60), n(0)
	got, err = in.Normalize(envTTL, envEarly)
	require.NoError(t, err)
	assert.Equal(t, "Télé-santé", got.ProductName)
	assert.Equal(t, "Clinique du Lac", got.ClinicName)
	assert.Equal(t, "#a1b2c3", got.PrimaryColor)
	assert.Equal(t, "#ffffff", got.AccentColor)
	assert.Equal(t, []string{"ar", "en"}, got.Languages, "the order given is kept")

	for _, tc := range []struct {
		name, field string
		change      func(*settings.Settings)
	}{
		{"empty product name", "product_name", func(s *settings.Settings) { s.ProductName = "   " }},
		{"long product name", "product_name", func(s *settings.Settings) { s.ProductName = strings.Repeat("é", 61) }},
		{"product name on two lines", "product_name", func(s *settings.Settings) { s.ProductName = "HCW\nHome" }},
		{"long clinic name", "clinic_name", func(s *settings.Settings) { s.ClinicName = strings.Repeat("a", 101) }},
		{"clinic name with a control character", "clinic_name", func(s *settings.Settings) { s.ClinicName = "a\u0000b" }},
		{"named colour", "primary_color", func(s *settings.Settings) { s.PrimaryColor = "blue" }},
		{"short colour", "primary_color", func(s *settings.Settings) { s.PrimaryColor = "#abc" }},
		{"colour with alpha", "accent_color", func(s *settings.Settings) { s.AccentColor = "#aabbccdd" }},
		{"colour without #", "accent_color", func(s *settings.Settings) { s.AccentColor = "aabbcc" }},
		{"css injection", "accent_color", func(s *settings.Settings) { s.AccentColor = "#aabbcc;}" }},
		{"retention 0", "closed_consultation_retention_days", func(s *settings.Settings) { s.ClosedConsultationRetentionDays = 0 }},
		{"retention 3651", "closed_consultation_retention_days", func(s *settings.Settings) { s.ClosedConsultationRetentionDays = 3651 }},
		{"no language", "languages", func(s *settings.Settings) { s.Languages = nil }},
		{"unknown language", "languages", func(s *settings.Settings) { s.Languages = []string{"en", "pt"} }},
		{"region tag", "languages", func(s *settings.Settings) { s.Languages = []string{"en-GB"} }},
		{"repeated language", "languages", func(s *settings.Settings) { s.Languages = []string{"fr", "en", "fr"} }},
		{"validity 4 minutes", "invite_ttl_minutes", func(s *settings.Settings) { s.InviteTTLMinutes = n(4) }},
		{"validity over 30 days", "invite_ttl_minutes", func(s *settings.Settings) { s.InviteTTLMinutes = n(43201) }},
		{"negative lead", "invite_early_minutes", func(s *settings.Settings) { s.InviteEarlyMinutes = n(-1) }},
		{"lead over a week", "invite_early_minutes", func(s *settings.Settings) { s.InviteEarlyMinutes = n(10081) }},
		{"lead as long as the validity", "invite_early_minutes", func(s *settings.Settings) { s.InviteTTLMinutes, s.InviteEarlyMinutes = n(60), n(60) }},
		// One override against the environment's other value.
		{"validity under the env lead", "invite_early_minutes", func(s *settings.Settings) { s.InviteTTLMinutes = n(10) }},
		{"lead over the env validity", "invite_early_minutes", func(s *settings.Settings) { s.InviteEarlyMinutes = n(24 * 60) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := settings.Defaults()
			tc.change(&s)
			_, err := s.Normalize(envTTL, envEarly)
			var fe *settings.FieldError
			require.True(t, errors.As(err, &fe), "got %v", err)
			assert.Equal(t, tc.field, fe.Field)
			assert.ErrorIs(t, err, settings.ErrInvalid)
		})
	}
}

func TestChanges(t *testing.T) {
	before := settings.Defaults()
	after := before
	assert.Empty(t, settings.Changes(before, after))
	after.ProductName, after.ClinicName = "Other", "Clinic"
	after.PrimaryColor = "#000000"
	after.ClosedConsultationRetentionDays = 7
	after.Languages = []string{"fr", "en"}
	after.InviteTTLMinutes = n(90)
	assert.Equal(t, []string{
		"product_name", "clinic_name", "primary_color:0b5cad:000000",
		"closed_consultation_retention_days:30:7", "languages:en.fr.de.es.it.ar:fr.en", "invite_ttl_minutes:default:90",
	}, settings.Changes(before, after), "names are not recorded, values are")
	assert.Equal(t, []string{"invite_ttl_minutes:90:default"}, settings.Changes(after, func() settings.Settings {
		s := after
		s.InviteTTLMinutes = nil
		return s
	}()))
}

func pngImage(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	img.Set(0, 0, color.NRGBA{R: 11, G: 92, B: 173, A: 255})
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	return buf.Bytes()
}

func jpegImage(t testing.TB, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h)), nil))
	return buf.Bytes()
}

// webpImage is a lossless WebP header of w by h pixels (what DetectLogo
// reads), padded to a plausible length.
func webpImage(w, h int) []byte {
	data := []byte{0x2f, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(data[1:], uint32(w-1)|uint32(h-1)<<14)
	data = append(data, make([]byte, 27)...)
	chunk := append([]byte("VP8L"), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	chunk = append(chunk, data...)
	body := append([]byte("WEBP"), chunk...)
	return append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...), body...)
}

func TestDetectLogo(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"png", pngImage(t, 120, 40), settings.TypePNG},
		{"jpeg", jpegImage(t, 64, 64), settings.TypeJPEG},
		{"webp", webpImage(300, 100), settings.TypeWebP},
		{"largest side", pngImage(t, settings.MaxLogoSide, 1), settings.TypePNG},
		// A JPEG with HTML after it is a JPEG: served as image/jpeg with
		// nosniff, no browser runs the HTML.
		{"jpeg/html polyglot", append(jpegImage(t, 8, 8), []byte("<html><script>alert(1)</script>")...), settings.TypeJPEG},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := settings.DetectLogo(tc.b)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	webpWrongLength := webpImage(10, 10)
	webpWrongLength = append(webpWrongLength, []byte("<svg/>")...)
	for _, tc := range []struct {
		name   string
		b      []byte
		reason string
	}{
		{"empty", nil, "empty"},
		{"svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), "SVG"},
		{"svg with xml prolog", []byte(`<?xml version="1.0"?><svg/>`), "SVG"},
		{"html", []byte(`<!doctype html><script>alert(1)</script>`), "PNG, JPEG or WebP"},
		{"gif", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), "PNG, JPEG or WebP"},
		{"truncated png", pngImage(t, 10, 10)[:20], "not a valid png"},
		{"png signature only", []byte("\x89PNG\r\n\x1a\n<html>"), "not a valid png"},
		{"jpeg marker only", []byte{0xff, 0xd8, 0xff, 0xe0, 0, 0}, "not a valid jpeg"},
		{"webp with trailing data", webpWrongLength, "not a valid webp"},
		{"webp unknown chunk", append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, 26)...), append([]byte("WEBPXXXX"), make([]byte, 18)...)...), "not a valid webp"},
		{"too wide", pngImage(t, settings.MaxLogoSide+1, 1), "at most 4096 by 4096"},
		{"too tall webp", webpImage(1, settings.MaxLogoSide+1), "at most 4096 by 4096"},
		{"too large", append(pngImage(t, 1, 1), make([]byte, settings.MaxLogoBytes)...), "larger than 262144 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := settings.DetectLogo(tc.b)
			var fe *settings.FieldError
			require.True(t, errors.As(err, &fe), "got %v", err)
			assert.Equal(t, "logo", fe.Field)
			assert.Contains(t, fe.Reason, tc.reason)
		})
	}
}

// FuzzDetectLogo: no input makes the detection panic, and whatever it
// accepts is one of the three types.
func FuzzDetectLogo(f *testing.F) {
	f.Add(pngImage(f, 2, 2))
	f.Add(jpegImage(f, 2, 2))
	f.Add(webpImage(2, 2))
	f.Add([]byte("<svg/>"))
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, err := settings.DetectLogo(b)
		if err == nil && typ != settings.TypePNG && typ != settings.TypeJPEG && typ != settings.TypeWebP {
			t.Fatalf("accepted as %q", typ)
		}
	})
}
