-- Indexes for the control-plane API's reads (see api/ and docs/api.md).

-- GET /api/v1/user/{id}: a user's largest live files, without scanning the index.
CREATE INDEX idx_files_owner_user_size ON storage_files (owner_user, size_bytes DESC) WHERE deleted_at IS NULL;

-- GET /api/v1/marks: newest marks first.
CREATE INDEX idx_marks_marked_at ON deletion_marks (marked_at DESC);
