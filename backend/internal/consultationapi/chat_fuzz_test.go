package consultationapi

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/hcw-home/hcw/backend/internal/consultation"
)

// FuzzChatEnvelope feeds arbitrary socket messages to the chat's parser:
// it must never panic, and whatever it accepts must be a chat message
// whose fields are within the limits the service enforces.
func FuzzChatEnvelope(f *testing.F) {
	for _, seed := range []string{
		`{"type":"chat.send","id":"1","data":{"key":"k-1","text":"hello"}}`,
		`{"type":"chat.send","id":"2","data":{"consultation_id":"00000000-0000-4000-8000-000000000000","key":"k","text":"é"}}`,
		`{"type":"chat.send","data":{"key":"","text":"x"}}`,
		`{"type":"chat.send","data":{"key":"k","text":""}}`,
		`{"type":"chat.send","data":{"key":"k","text":"x","extra":true}}`,
		`{"type":"chat.send","data":[1,2]}`,
		`{"type":"chat.send","data":"text"}`,
		`{"type":"chat.send","data":{"key":"k","text":"x"}} {}`,
		`{"type":"chat.sync","id":"s","data":{"after":12,"limit":50}}`,
		`{"type":"chat.sync","data":{"after":-1}}`,
		`{"type":"chat.sync","data":{"after":1e300}}`,
		`{"type":"chat.read","data":{"seq":3}}`,
		`{"type":"chat.read","data":{"seq":0}}`,
		`{"type":"chat.read"}`,
		`{"type":"ping"}`,
		`{"type":""}`,
		`{}`,
		`null`,
		`[]`,
		"{\"type\":\"chat.send\",\"data\":{\"key\":\"\\u0000\",\"text\":\"x\"}}",
		"\xff\xfe",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in, v, err := ParseChatEnvelope(b)
		if err != nil {
			if v != nil {
				t.Fatalf("error %v with a value %#v", err, v)
			}
			return
		}
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		switch d := v.(type) {
		case chatSendData:
			if in.Type != TypeChatSend {
				t.Fatalf("send data for type %q", in.Type)
			}
			if err := consultation.ValidateMessage(d.Key, d.Text); err != nil {
				t.Fatalf("accepted an invalid message: %v", err)
			}
			if n := utf8.RuneCountInString(d.Text); n < 1 || n > consultation.MaxMessageRunes || len(d.Key) > consultation.MaxMessageKey {
				t.Fatalf("accepted out-of-bounds message (%d runes, key %d bytes)", n, len(d.Key))
			}
		case chatSyncData:
			if in.Type != TypeChatSync || d.After < 0 || d.Limit < 0 || d.Limit > consultation.MaxMessagePage {
				t.Fatalf("accepted sync %#v as %q", d, in.Type)
			}
		case chatReadData:
			if in.Type != TypeChatRead || d.Seq < 1 {
				t.Fatalf("accepted read %#v as %q", d, in.Type)
			}
		default:
			t.Fatalf("accepted %q with value %#v", in.Type, v)
		}
	})
}
