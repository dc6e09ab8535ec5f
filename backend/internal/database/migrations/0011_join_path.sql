-- Join path (package consultation): a participant's latest invite is read
-- on every GET /participant/me and in a consultation's participant list.
-- Without an index on invites by participant each of those reads scanned
-- every invite ever made, which grows without end. The index also serves
-- the foreign key from invites to participants (ON DELETE CASCADE).
CREATE INDEX invites_participant ON invites (participant_id, created_at DESC, id DESC);
