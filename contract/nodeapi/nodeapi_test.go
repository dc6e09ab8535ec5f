package nodeapi

import (
	"net/http/httptest"
	"testing"
)

func TestAuthorized(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	if Authorized(r, "s3cret-s3cret-s3cret") {
		t.Fatal("no header accepted")
	}
	Authorize(r, "s3cret-s3cret-s3cret")
	if !Authorized(r, "s3cret-s3cret-s3cret") || Authorized(r, "other-other-other-x") || Authorized(r, "") {
		t.Fatal("bearer check wrong")
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{"media": true, "media-2": true, "": false, "-a": false, "Media": false, "a/b": false, "a.b": false, "0123456789012345678901234567890123": false} {
		if ValidID(id) != want {
			t.Errorf("ValidID(%q) != %v", id, want)
		}
	}
}
