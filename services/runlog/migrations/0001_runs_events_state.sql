-- Runs, their append-only events, and session state written beside them.

CREATE TABLE runs (
    run_id     text PRIMARY KEY,
    agent      text NOT NULL DEFAULT '',
    customer   text NOT NULL DEFAULT '',
    session_id text NOT NULL DEFAULT '',
    status     text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    last_seq   bigint NOT NULL DEFAULT 0,
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX runs_by_start ON runs (started_at DESC);
CREATE INDEX runs_by_agent ON runs (agent, started_at DESC);
CREATE INDEX runs_by_customer ON runs (customer, started_at DESC);

-- payload is the exact JSON text the writer sent (after redaction), so replay sees the same bytes.
CREATE TABLE events (
    run_id  text NOT NULL REFERENCES runs (run_id),
    seq     bigint NOT NULL,
    kind    text NOT NULL,
    source  text NOT NULL DEFAULT '',
    payload text NOT NULL,
    at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX events_attempts_by_time ON events (at) WHERE kind = 'model_attempt';

CREATE FUNCTION events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'run log events are append-only (% refused)', TG_OP;
END
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_are_append_only();

CREATE TABLE session_state (
    session_id text PRIMARY KEY,
    version    bigint NOT NULL CHECK (version > 0),
    state      text NOT NULL,
    run_id     text NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Spend is rebuilt from the router's model_attempt events (payload: the Attempt plus "customer").
CREATE VIEW attempt_costs AS
SELECT at,
       coalesce(p ->> 'customer', '') AS customer,
       coalesce(p ->> 'provider', '') AS provider,
       coalesce(p ->> 'model', '') AS model,
       coalesce((p ->> 'cost_usd')::float8, 0) AS cost_usd
FROM (SELECT at, payload::jsonb AS p FROM events WHERE kind = 'model_attempt') AS attempts;
