package keyrotation

import (
	"github.com/hcw-home/hcw/backend/internal/account"
	"github.com/hcw-home/hcw/backend/internal/consultation"
	"github.com/hcw-home/hcw/backend/internal/signin"
)

// Column is one sealed column: where its values are and the additional
// data each was sealed with. The additional data is owned by the package
// that seals the column, so it is spelled out once.
type Column struct {
	// Table and Name name the bytea column holding the sealed values.
	Table, Name string
	// ID is the table's single-column primary key, or a NOT NULL column
	// with a unique index of its own (messages.id). Rotation pages through
	// the table in its order, so it must be unique and indexed.
	ID string
	// AAD returns the additional data of the value in the row whose ID,
	// as text, is id.
	AAD func(id string) []byte
}

// String returns "table.column", as in progress lines and reports.
func (c Column) String() string { return c.Table + "." + c.Name }

// Columns lists every sealed column of the schema, in the order they are
// rotated. A column whose name ends in _sealed and which is missing here
// fails TestColumnsCoverSchema: a value that is never rotated would stop
// opening once the previous key is dropped.
func Columns() []Column {
	userField := func(field string) func(string) []byte {
		return func(id string) []byte { return account.SealedAAD(field, id) }
	}
	sealedField := func(table, field string) func(string) []byte {
		return func(id string) []byte { return consultation.SealedAAD(table, field, id) }
	}
	return []Column{
		{Table: "users", Name: "first_name_sealed", ID: "id", AAD: userField("first_name")},
		{Table: "users", Name: "last_name_sealed", ID: "id", AAD: userField("last_name")},
		{Table: "users", Name: "phone_sealed", ID: "id", AAD: userField("phone")},
		{Table: "totp_factors", Name: "secret_sealed", ID: "user_id", AAD: signin.TOTPSecretAAD},
		{Table: "participants", Name: "first_name_sealed", ID: "id", AAD: sealedField("participants", "first_name")},
		{Table: "participants", Name: "last_name_sealed", ID: "id", AAD: sealedField("participants", "last_name")},
		{Table: "invites", Name: "email_sealed", ID: "id", AAD: sealedField("invites", "email")},
		{Table: "invites", Name: "phone_sealed", ID: "id", AAD: sealedField("invites", "phone")},
		{Table: "invites", Name: "note_sealed", ID: "id", AAD: sealedField("invites", "note")},
		{Table: "invites", Name: "metadata_sealed", ID: "id", AAD: sealedField("invites", "metadata")},
		{Table: "consultations", Name: "note_sealed", ID: "id", AAD: sealedField("consultations", "note")},
		// messages' key is (consultation_id, seq); id is unique too.
		{Table: "messages", Name: "body_sealed", ID: "id", AAD: sealedField("messages", "body")},
		{Table: "consultation_feedback", Name: "comment_sealed", ID: "id", AAD: sealedField("consultation_feedback", "comment")},
		{Table: "interpreter_organisations", Name: "contact_email_sealed", ID: "id", AAD: sealedField("interpreter_organisations", "contact_email")},
		{Table: "interpreter_organisations", Name: "members_sealed", ID: "id", AAD: sealedField("interpreter_organisations", "members")},
		{Table: "interpreter_request_links", Name: "email_sealed", ID: "id", AAD: sealedField("interpreter_request_links", "email")},
	}
}
