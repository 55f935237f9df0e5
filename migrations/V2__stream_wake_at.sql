-- When a stream next needs attention without a command (a booking whose hold expires):
-- the sweeper reads due streams from this partial index instead of scanning snapshots.
ALTER TABLE streams ADD COLUMN wake_at timestamptz;
CREATE INDEX streams_wake_at ON streams (category, wake_at) WHERE wake_at IS NOT NULL;
