-- What each owner keeps, for the per-user quota (streams, and bytes of their own
-- data). Every change to an owner's streams updates it in the same transaction, and
-- each server rebuilds it from streams.streams when it starts, so it cannot drift.
CREATE TABLE streams.owners (
    owner   text   PRIMARY KEY,
    streams bigint NOT NULL,
    bytes   bigint NOT NULL
);
