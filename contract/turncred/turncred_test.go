package turncred

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func TestMintThenCheck(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c, err := Mint(secret, "participant-1", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if c.Username != "1800003600:participant-1" {
		t.Fatalf("username = %q", c.Username)
	}
	// The password is derived from the username alone.
	if c.Password != Password(secret, c.Username) || c.Password == "" {
		t.Fatalf("password mismatch")
	}
	user, err := Check(c.Username, now.Add(59*time.Minute))
	if err != nil || user != "participant-1" {
		t.Fatalf("Check = %q, %v", user, err)
	}
	if _, err := Check(c.Username, now.Add(time.Hour)); !errors.Is(err, ErrExpired) {
		t.Fatalf("Check at expiry = %v, want ErrExpired", err)
	}
}

func TestPasswordKnownAnswer(t *testing.T) {
	// echo -n '1700000000:alice' | openssl dgst -sha1 -hmac secretsecretsecret -binary | base64
	got := Password([]byte("secretsecretsecret"), "1700000000:alice")
	if got != "4oCqSZt2zUGkg95PxJTJuzkcGZ0=" {
		t.Fatalf("Password = %q", got)
	}
}

func TestMintRefuses(t *testing.T) {
	now := time.Now()
	for name, tc := range map[string]struct {
		secret []byte
		user   string
		ttl    time.Duration
	}{
		"short secret":  {[]byte("short"), "u", time.Hour},
		"empty user":    {secret, "", time.Hour},
		"colon in user": {secret, "a:b", time.Hour},
		"long user":     {secret, strings.Repeat("u", MaxUserLen+1), time.Hour},
		"zero ttl":      {secret, "u", 0},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Mint(tc.secret, tc.user, tc.ttl, now); err == nil {
				t.Fatal("Mint accepted it")
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	for _, u := range []string{"", "alice", "abc:alice", "-5:alice", "0:alice", "1700000000:", ":alice"} {
		if _, _, err := Parse(u); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q) = %v, want ErrMalformed", u, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("1700000000:alice")
	f.Add("::::")
	f.Fuzz(func(t *testing.T, s string) {
		exp, user, err := Parse(s)
		if err == nil && (user == "" || exp.Unix() <= 0) {
			t.Fatalf("Parse(%q) accepted an empty user or expiry", s)
		}
	})
}
