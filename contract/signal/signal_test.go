package signal

import (
	"strings"
	"testing"
)

func TestEncodeDecodeInto(t *testing.T) {
	b, err := Encode(TypeJoin, "1", Join{Room: "c-1"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := Decode(b)
	if err != nil || e.Type != TypeJoin || e.ID != "1" {
		t.Fatalf("%+v %v", e, err)
	}
	var j Join
	if err := Into(e, &j); err != nil || j.Room != "c-1" {
		t.Fatalf("%+v %v", j, err)
	}
}

func TestDecodeRefuses(t *testing.T) {
	for name, in := range map[string]string{
		"not json": "{",
		"no type":  `{"data":{}}`,
		"too big":  `{"type":"x","data":"` + strings.Repeat("a", MaxMessageBytes) + `"}`,
	} {
		if _, err := Decode([]byte(in)); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	e, _ := Decode([]byte(`{"type":"join","data":{"room":"a","extra":1}}`))
	if err := Into(e, &Join{}); err == nil {
		t.Error("unknown field accepted")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"type":"offer","id":"1","data":{"target":"pub","sdp":{"type":"offer","sdp":"v=0"}}}`))
	f.Add([]byte(`{"type":"trickle","data":{"target":"sub","candidate":null}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Decode(b)
		if err != nil {
			return
		}
		var s SDP
		_ = Into(e, &s)
		var tr Trickle
		_ = Into(e, &tr)
	})
}
