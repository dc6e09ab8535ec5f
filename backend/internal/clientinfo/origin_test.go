package clientinfo_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/hcw-home/hcw/backend/internal/clientinfo"
)

var appHosts = []string{"doctor.example.org", "patient.example.org", "admin.example.org"}

func TestCheckOrigin(t *testing.T) {
	for _, tc := range []struct {
		name, origin, host string
		want               error
	}{
		{"same origin doctor", "https://doctor.example.org", "doctor.example.org", nil},
		{"same origin with port", "https://patient.example.org:8443", "patient.example.org:8443", nil},
		{"default port in Host", "https://admin.example.org", "admin.example.org:443", nil},
		{"case insensitive", "https://Doctor.Example.org", "doctor.example.org", nil},
		{"missing", "", "doctor.example.org", clientinfo.ErrOriginMissing},
		{"http scheme", "http://doctor.example.org", "doctor.example.org", clientinfo.ErrOriginMalformed},
		{"null origin", "null", "doctor.example.org", clientinfo.ErrOriginMalformed},
		{"with path", "https://doctor.example.org/app", "doctor.example.org", clientinfo.ErrOriginMalformed},
		{"with userinfo", "https://x@doctor.example.org", "doctor.example.org", clientinfo.ErrOriginMalformed},
		{"foreign", "https://evil.example", "evil.example", clientinfo.ErrOriginNotAllowed},
		{"suffix trick", "https://doctor.example.org.evil.example", "doctor.example.org.evil.example", clientinfo.ErrOriginNotAllowed},
		{"other app host", "https://patient.example.org", "doctor.example.org", clientinfo.ErrOriginCrossSite},
		{"different port", "https://doctor.example.org:9999", "doctor.example.org:8443", clientinfo.ErrOriginCrossSite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := clientinfo.CheckOrigin(tc.origin, tc.host, appHosts)
			if tc.want == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tc.want)
			}
		})
	}
}
