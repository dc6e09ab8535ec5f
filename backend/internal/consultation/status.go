package consultation

import "slices"

// InviteStatus is where an invite stands; see the package documentation.
type InviteStatus string

// Invite statuses.
const (
	InviteCreated        InviteStatus = "created"
	InviteSent           InviteStatus = "sent"
	InviteDeliveryFailed InviteStatus = "delivery_failed"
	InviteOpened         InviteStatus = "opened"
	InviteRedeemed       InviteStatus = "redeemed"
	InviteExpired        InviteStatus = "expired"
	InviteRevoked        InviteStatus = "revoked"
)

// inviteMoves is the one table of allowed invite transitions.
var inviteMoves = map[InviteStatus][]InviteStatus{
	InviteCreated:        {InviteSent, InviteDeliveryFailed, InviteOpened, InviteRedeemed, InviteExpired, InviteRevoked},
	InviteSent:           {InviteOpened, InviteRedeemed, InviteExpired, InviteRevoked},
	InviteDeliveryFailed: {InviteOpened, InviteRedeemed, InviteExpired, InviteRevoked},
	InviteOpened:         {InviteRedeemed, InviteExpired, InviteRevoked},
	InviteRedeemed:       {InviteRevoked},
	InviteExpired:        {InviteRevoked},
}

// CanBecome reports whether an invite in status s may move to to.
func (s InviteStatus) CanBecome(to InviteStatus) bool {
	return slices.Contains(inviteMoves[s], to)
}

// unredeemed reports whether s is a status before redemption, in which
// the invite's expiry is still to be written.
func (s InviteStatus) unredeemed() bool {
	return s == InviteCreated || s == InviteSent || s == InviteDeliveryFailed || s == InviteOpened
}

// Status is a consultation's status.
type Status string

// Consultation statuses.
const (
	StatusInvited Status = "invited"
	StatusPending Status = "pending"
	StatusActive  Status = "active"
	StatusClosed  Status = "closed"
)

// Delivery is how an invite reaches its participant.
type Delivery string

// Deliveries. SMS and WhatsApp come later behind the same Sender.
const (
	// DeliveryLink: the creator copies the link (answered once).
	DeliveryLink Delivery = "link"
	// DeliveryEmail: the link is also mailed, with an .ics when scheduled.
	DeliveryEmail Delivery = "email"
)
