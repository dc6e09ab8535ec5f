// Package signal defines the media node's signalling protocol: JSON
// messages over one WebSocket per participant at
// wss://<media host>/n/<node id>/signal, subprotocol "hcw.signal.v1" with
// the grant offered next to it (see package grant).
//
// Every message is an Envelope {type, id, data}. A participant has two
// peer connections, as in most SFUs: "pub", which the client offers and on
// which it sends its tracks, and "sub", which the node offers and on which
// it sends everyone else's (the node renegotiates it when tracks come and
// go). SDP and trickle messages name their target.
//
// The sequence: the client opens the socket, sends join; the node answers
// joined (who is here, which tracks exist) and then offers "sub". To
// publish, the client sends publish for each track (the node checks the
// grant's sources), then offers "pub". The node answers errors with an
// error message whose code is stable (the Err* constants).
package signal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/pion/webrtc/v4"
)

// Message types. "c>s" are sent by the client, "s>c" by the node, "both"
// by either side.
const (
	TypeJoin               = "join"                // c>s Join
	TypeJoined             = "joined"              // s>c Joined
	TypeOffer              = "offer"               // both SDP
	TypeAnswer             = "answer"              // both SDP
	TypeTrickle            = "trickle"             // both Trickle
	TypePublish            = "publish"             // c>s Publish
	TypePublished          = "published"           // s>c Published (ack of publish)
	TypeUnpublish          = "unpublish"           // c>s Unpublish
	TypeMute               = "mute"                // c>s Mute
	TypeSubscription       = "subscription"        // c>s Subscription
	TypeParticipantJoined  = "participant_joined"  // s>c ParticipantInfo
	TypeParticipantUpdated = "participant_updated" // s>c ParticipantInfo (state, muted tracks)
	TypeParticipantLeft    = "participant_left"    // s>c ParticipantLeft
	TypeTrackPublished     = "track_published"     // s>c TrackInfo
	TypeTrackUnpublished   = "track_unpublished"   // s>c TrackUnpublished
	TypeSpeakers           = "speakers"            // s>c Speakers
	TypeQuality            = "quality"             // s>c Quality
	TypeLeave              = "leave"               // both Leave
	TypeError              = "error"               // s>c Error
)

// Stable error codes.
const (
	ErrGrantInvalid     = "grant_invalid"
	ErrGrantExpired     = "grant_expired"
	ErrWrongRoom        = "wrong_room"
	ErrWrongNode        = "wrong_node"
	ErrSourceNotAllowed = "source_not_allowed"
	ErrRoomFull         = "room_full"
	ErrNodeDraining     = "node_draining"
	ErrRoomEnded        = "room_ended"
	ErrRemoved          = "removed"
	ErrBadMessage       = "bad_message"
	ErrRateLimited      = "rate_limited"
	ErrInternal         = "internal"
)

// Leave reasons the node sends.
const (
	ReasonClientLeft   = "client_left"
	ReasonRemoved      = "removed"
	ReasonRoomEnded    = "room_ended"
	ReasonDuplicate    = "duplicate_identity" // the same participant joined again elsewhere
	ReasonNodeShutdown = "node_shutdown"
	// ReasonConnectionLost (in participant_left): the participant's socket
	// dropped and it did not come back within the grace period.
	ReasonConnectionLost = "connection_lost"
)

// Targets of SDP and trickle messages.
const (
	TargetPub = "pub"
	TargetSub = "sub"
)

// Participant states.
const (
	StateActive       = "active"
	StateReconnecting = "reconnecting"
)

// MaxMessageBytes is the read limit of a signalling socket, both sides.
const MaxMessageBytes = 64 << 10

// Envelope is one signalling message.
type Envelope struct {
	Type string `json:"type"`
	// ID, when a client sets it, is echoed in the reply (an error included).
	ID   string          `json:"id,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`
}

// Join opens the session. Room must equal the grant's.
type Join struct {
	Room string `json:"room"`
	// Resume is set by a client reconnecting within the grace period; the
	// node keeps its place and published tracks rather than announcing a
	// leave and a join.
	Resume bool `json:"resume,omitempty"`
}

// Joined answers Join.
type Joined struct {
	Self         ParticipantInfo   `json:"self"`
	Participants []ParticipantInfo `json:"participants"`
	// GraceSeconds is how long the node keeps a dropped participant's place.
	GraceSeconds int `json:"grace_seconds"`
}

// ParticipantInfo describes a participant and its tracks.
type ParticipantInfo struct {
	ID     string      `json:"id"`
	Name   string      `json:"name"`
	Role   string      `json:"role"`
	State  string      `json:"state"`
	Tracks []TrackInfo `json:"tracks,omitempty"`
}

// ParticipantLeft announces a departure.
type ParticipantLeft struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// SDP carries an offer or an answer for one of the two peer connections.
type SDP struct {
	Target string                    `json:"target"`
	SDP    webrtc.SessionDescription `json:"sdp"`
}

// Trickle carries one ICE candidate; a nil Candidate's JSON (null) is the
// end of candidates.
type Trickle struct {
	Target    string                   `json:"target"`
	Candidate *webrtc.ICECandidateInit `json:"candidate"`
}

// Layer is one simulcast encoding a publisher sends.
type Layer struct {
	RID     string `json:"rid"` // "q", "h", "f" (quarter, half, full)
	Width   int    `json:"width,omitempty"`
	Height  int    `json:"height,omitempty"`
	Bitrate int    `json:"bitrate,omitempty"` // bits/s, the publisher's cap
}

// Publish announces a track before the client's offer carries it. CID is
// the client's MediaStreamTrack id (the msid's track part in the SDP),
// which the node uses to tie the incoming track to this announcement.
type Publish struct {
	CID    string  `json:"cid"`
	Kind   string  `json:"kind"`   // "audio" or "video"
	Source string  `json:"source"` // grant.Source*
	Muted  bool    `json:"muted,omitempty"`
	Layers []Layer `json:"layers,omitempty"`
}

// Published acks Publish with the node's track id.
type Published struct {
	CID   string    `json:"cid"`
	Track TrackInfo `json:"track"`
}

// TrackInfo describes a published track.
type TrackInfo struct {
	ID          string  `json:"id"` // node-assigned, stable for the track's life
	Participant string  `json:"participant"`
	Kind        string  `json:"kind"`
	Source      string  `json:"source"`
	Muted       bool    `json:"muted"`
	Layers      []Layer `json:"layers,omitempty"`
}

// TrackUnpublished announces a track's end.
type TrackUnpublished struct {
	ID          string `json:"id"`
	Participant string `json:"participant"`
}

// Unpublish ends one of the sender's tracks.
type Unpublish struct {
	TrackID string `json:"track_id"`
}

// Mute changes a published track's muted state.
type Mute struct {
	TrackID string `json:"track_id"`
	Muted   bool   `json:"muted"`
}

// Qualities a subscriber may ask for.
const (
	QualityLow    = "low"
	QualityMedium = "medium"
	QualityHigh   = "high"
)

// Subscription sets a subscriber's preference for one remote track.
type Subscription struct {
	TrackID string `json:"track_id"`
	// Quality caps the simulcast layer (the node also caps by bandwidth).
	Quality string `json:"quality,omitempty"`
	// Paused stops the track's packets to this subscriber (audio-only on a
	// weak link, or a hidden tile).
	Paused bool `json:"paused"`
}

// Speakers lists active speakers, loudest first (RFC 6464 levels; 0 is
// silence, 1 the loudest).
type Speakers struct {
	Speakers []Speaker `json:"speakers"`
}

// Speaker is one active speaker.
type Speaker struct {
	Participant string  `json:"participant"`
	Level       float64 `json:"level"`
}

// Connection qualities.
const (
	QualityExcellent = "excellent"
	QualityGood      = "good"
	QualityPoor      = "poor"
	QualityLost      = "lost"
)

// Quality reports a participant's connection quality.
type Quality struct {
	Participant string  `json:"participant"`
	Quality     string  `json:"quality"`
	Loss        float64 `json:"loss"`   // fraction 0..1 over the last interval
	RTTMillis   int     `json:"rtt_ms"` // 0 when unknown
}

// Leave ends the session (from the client) or tells why it ended (from the
// node, which then closes the socket).
type Leave struct {
	Reason string `json:"reason,omitempty"`
}

// Error reports a refused message or a failure.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ErrEmptyType is returned by Decode for an envelope without a type.
var ErrEmptyType = errors.New("signal: message without type")

// Encode builds an envelope.
func Encode(typ, id string, data any) ([]byte, error) {
	e := Envelope{Type: typ, ID: id}
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			return nil, fmt.Errorf("signal: encode %s: %w", typ, err)
		}
		e.Data = b
	}
	return json.Marshal(e)
}

// Decode parses an envelope. It does not look inside Data.
func Decode(b []byte) (Envelope, error) {
	var e Envelope
	if len(b) > MaxMessageBytes {
		return e, fmt.Errorf("signal: message of %d bytes over %d", len(b), MaxMessageBytes)
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("signal: %w", err)
	}
	if e.Type == "" {
		return e, ErrEmptyType
	}
	return e, nil
}

// Into decodes an envelope's data into v, refusing unknown fields.
func Into(e Envelope, v any) error {
	if len(e.Data) == 0 {
		return fmt.Errorf("signal: %s without data", e.Type)
	}
	d := json.NewDecoder(bytes.NewReader(e.Data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("signal: %s: %w", e.Type, err)
	}
	return nil
}
