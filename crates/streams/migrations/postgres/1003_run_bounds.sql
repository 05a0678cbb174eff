-- A batch of appends to one stream is stored as one row: far fewer rows to write, and
-- to read on a catch-up. `bounds` keeps where each append after the first starts,
-- relative to start_pos (NULL: the row is one append), so reads still give out and
-- accept exactly the appends' boundaries.
ALTER TABLE streams.runs ADD COLUMN bounds integer[];
