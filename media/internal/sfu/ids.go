package sfu

// RoomID is a consultation id, the room a grant names.
type RoomID string

// ParticipantID is a grant's subject.
type ParticipantID string

// TrackID is the node-assigned id of a published track.
type TrackID string
