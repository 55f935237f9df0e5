-- Projections: one row per generation of each read model. A generation builds its own
-- table (rm_<name>_g<generation>) from the start of the gap-free feed; the live one
-- serves queries; a rebuild builds a new generation beside it and swaps in one
-- transaction.
CREATE TABLE projection_generations (
    name           text        NOT NULL,
    generation     integer     NOT NULL CHECK (generation > 0),
    version        integer     NOT NULL CHECK (version > 0),
    state          text        NOT NULL CHECK (state IN ('building', 'live', 'retired')),
    checkpoint     text        NOT NULL DEFAULT '00000000000000000000000000000000',
    events_applied bigint      NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, generation)
);
-- At most one live generation per read model.
CREATE UNIQUE INDEX projection_one_live ON projection_generations (name) WHERE state = 'live';
