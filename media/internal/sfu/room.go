package sfu

import (
	"crypto/rand"
	"encoding/base32"
	"slices"
	"strings"
	"time"

	"github.com/hcw-home/hcw/contract/grant"
	"github.com/hcw-home/hcw/contract/signal"
	"github.com/hcw-home/hcw/media/internal/sfu/forward"
)

// room is one consultation's call on this node. Its state, and that of its
// participants and tracks, is guarded by SFU.mu.
type room struct {
	id           RoomID
	participants map[ParticipantID]*participant
	speakers     []ParticipantID // the set last announced, sorted
}

// track is a published track, as the domain knows it.
type track struct {
	id       TrackID
	owner    *participant
	cid      string
	kind     string
	source   string
	muted    bool
	layers   []signal.Layer
	recv     *forward.Receiver // nil until media arrives
	detached bool              // its publisher reconnected and has not republished it yet
	retired  bool
}

func (t *track) info() signal.TrackInfo {
	return signal.TrackInfo{
		ID: string(t.id), Participant: string(t.owner.id), Kind: t.kind,
		Source: t.source, Muted: t.muted, Layers: t.layers,
	}
}

func newID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// info describes p; the caller holds SFU.mu.
func (p *participant) info() signal.ParticipantInfo {
	pi := signal.ParticipantInfo{ID: string(p.id), Name: p.name, Role: p.role, State: p.state}
	for _, t := range p.sortedTracks() {
		if t.recv != nil && !t.retired {
			pi.Tracks = append(pi.Tracks, t.info())
		}
	}
	return pi
}

func (p *participant) sortedTracks() []*track {
	ts := make([]*track, 0, len(p.tracks))
	for _, t := range p.tracks {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b *track) int { return strings.Compare(string(a.id), string(b.id)) })
	return ts
}

// broadcast sends a message to everyone in r with a socket but except; the
// caller holds SFU.mu (sending only queues).
func (r *room) broadcast(except *participant, typ string, data any) {
	for _, p := range r.participants {
		if p != except && p.sess != nil {
			p.sess.send(typ, "", data)
		}
	}
}

// kindOf is the media kind a grant source publishes.
func kindOf(source string) string {
	if source == grant.SourceMicrophone {
		return "audio"
	}
	return "video"
}

// layerOf maps a simulcast RID to a layer: q=0, h=1, f=2; no RID is 0.
func layerOf(rid string) int {
	switch rid {
	case "h":
		return 1
	case "f":
		return 2
	default:
		return 0
	}
}

// qualityLayer maps a requested quality to the highest layer allowed.
func qualityLayer(q string) int {
	switch q {
	case signal.QualityLow:
		return 0
	case signal.QualityMedium:
		return 1
	default:
		return 2
	}
}

// updateSpeakers announces each room's active speakers when the set
// changes.
func (s *SFU) updateSpeakers() {
	type level struct {
		recv *forward.Receiver
		who  ParticipantID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.rooms {
		var levels []signal.Speaker
		for _, p := range r.participants {
			best := -1.0
			for _, t := range p.tracks {
				if t.recv == nil || t.recv.Kind() != forward.Audio {
					continue
				}
				if l, speaking := t.recv.AudioLevel(); speaking && !t.muted && l > best {
					best = l
				}
			}
			if best >= 0 {
				levels = append(levels, signal.Speaker{Participant: string(p.id), Level: best})
			}
		}
		set := make([]ParticipantID, len(levels))
		for i, l := range levels {
			set[i] = ParticipantID(l.Participant)
		}
		slices.Sort(set)
		if slices.Equal(set, r.speakers) {
			continue
		}
		r.speakers = set
		slices.SortFunc(levels, func(a, b signal.Speaker) int {
			switch {
			case a.Level > b.Level:
				return -1
			case a.Level < b.Level:
				return 1
			}
			return strings.Compare(a.Participant, b.Participant)
		})
		if levels == nil {
			levels = []signal.Speaker{}
		}
		r.broadcast(nil, signal.TypeSpeakers, signal.Speakers{Speakers: levels})
	}
}

// graceSeconds is the grace period announced in joined.
func (s *SFU) graceSeconds() int { return int(s.p.GracePeriod / time.Second) }
