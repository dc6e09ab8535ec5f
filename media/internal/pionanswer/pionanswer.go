// Package pionanswer keeps a pion answerer able to receive again on an
// m-section its offerer turned inactive and later reuses for a new track:
// the Go clients answering the media node's "sub" offers (the node reuses
// the m-section of a track that ended for the next one: a screen shared
// again, a new guest), and the node answering "pub" offers (a client may
// share again on the m-section of its last share).
//
// pion (v4.2.26; pion/webrtc#2226) stops a transceiver whenever a remote
// offer marks its m-section inactive. The first time, the stopped receiver
// had a track, and pion gives the transceiver a new receiver as it applies
// its answer. Any later inactive offer stops that new receiver, which pion
// never replaces (it has had no track): when the offerer then reuses the
// m-section for a new track, no track event fires and nothing is read.
// Browsers keep an inactive transceiver as it is.
//
// A Guard rewrites the descriptions around that: such an m-section is
// applied as sendonly with no track (pion takes it as recvonly and stops
// nothing) and answered inactive, as it was offered.
package pionanswer

import (
	"fmt"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Guard rewrites the remote offers and the answers of one answering peer
// connection. Use it from the goroutine that answers, one offer at a time.
type Guard struct {
	pc   *webrtc.PeerConnection
	mids map[string]bool // rewritten in the offer being answered
}

// New returns a Guard for pc.
func New(pc *webrtc.PeerConnection) *Guard { return &Guard{pc: pc} }

// Offer returns the offer to apply in place of o.
func (g *Guard) Offer(o webrtc.SessionDescription) (webrtc.SessionDescription, error) {
	g.mids = nil
	// The transceivers whose receiver never had a track: those pion would
	// stop for good.
	idle := map[string]bool{}
	for _, tr := range g.pc.GetTransceivers() {
		if r := tr.Receiver(); tr.Mid() != "" && r != nil && len(r.Tracks()) == 0 {
			idle[tr.Mid()] = true
		}
	}
	if len(idle) == 0 {
		return o, nil
	}
	var d sdp.SessionDescription
	if err := d.UnmarshalString(o.SDP); err != nil {
		return o, fmt.Errorf("parse offer: %w", err)
	}
	for _, m := range d.MediaDescriptions {
		mid, _ := m.Attribute(sdp.AttrKeyMID)
		if _, inactive := m.Attribute(sdp.AttrKeyInactive); inactive && idle[mid] && m.MediaName.Port.Value != 0 {
			setDirection(m, sdp.AttrKeySendOnly)
			if g.mids == nil {
				g.mids = map[string]bool{}
			}
			g.mids[mid] = true
		}
	}
	if g.mids == nil {
		return o, nil
	}
	return marshal(o.Type, &d)
}

// Answer returns the answer to send in place of a, the answer to the
// offer last given to Offer.
func (g *Guard) Answer(a webrtc.SessionDescription) (webrtc.SessionDescription, error) {
	if len(g.mids) == 0 {
		return a, nil
	}
	var d sdp.SessionDescription
	if err := d.UnmarshalString(a.SDP); err != nil {
		return a, fmt.Errorf("parse answer: %w", err)
	}
	for _, m := range d.MediaDescriptions {
		if mid, _ := m.Attribute(sdp.AttrKeyMID); g.mids[mid] {
			setDirection(m, sdp.AttrKeyInactive)
		}
	}
	return marshal(a.Type, &d)
}

// setDirection replaces m's direction attribute with dir.
func setDirection(m *sdp.MediaDescription, dir string) {
	attrs := m.Attributes[:0]
	for _, a := range m.Attributes {
		switch a.Key {
		case sdp.AttrKeySendRecv, sdp.AttrKeySendOnly, sdp.AttrKeyRecvOnly, sdp.AttrKeyInactive:
		default:
			attrs = append(attrs, a)
		}
	}
	m.Attributes = append(attrs, sdp.NewPropertyAttribute(dir))
}

func marshal(typ webrtc.SDPType, d *sdp.SessionDescription) (webrtc.SessionDescription, error) {
	b, err := d.Marshal()
	if err != nil {
		return webrtc.SessionDescription{}, fmt.Errorf("write description: %w", err)
	}
	return webrtc.SessionDescription{Type: typ, SDP: string(b)}, nil
}
