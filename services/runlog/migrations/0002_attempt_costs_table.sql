-- Spend lines extracted once, when an attempt is written, instead of parsing every attempt's payload (which
-- holds whole request and response bodies) each time a router rebuilds its budgets from GetSpend.

DROP VIEW attempt_costs;

CREATE TABLE attempt_costs (
    run_id   text NOT NULL,
    seq      bigint NOT NULL,
    at       timestamptz NOT NULL,
    customer text NOT NULL,
    provider text NOT NULL,
    model    text NOT NULL,
    cost_usd float8 NOT NULL,
    PRIMARY KEY (run_id, seq),
    FOREIGN KEY (run_id, seq) REFERENCES events (run_id, seq)
);
CREATE INDEX attempt_costs_by_time ON attempt_costs (at);

CREATE FUNCTION attempt_cost_of(run_id text, seq bigint, at timestamptz, payload text) RETURNS attempt_costs
LANGUAGE sql IMMUTABLE AS $$
    SELECT run_id, seq, at, coalesce(p ->> 'customer', ''), coalesce(p ->> 'provider', ''),
           coalesce(p ->> 'model', ''), coalesce((p ->> 'cost_usd')::float8, 0)
    FROM (SELECT payload::jsonb AS p) AS parsed
$$;

INSERT INTO attempt_costs
SELECT (attempt_cost_of(run_id, seq, at, payload)).* FROM events WHERE kind = 'model_attempt';

CREATE FUNCTION record_attempt_cost() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO attempt_costs SELECT (attempt_cost_of(NEW.run_id, NEW.seq, NEW.at, NEW.payload)).*;
    RETURN NULL;
END
$$;
CREATE TRIGGER events_attempt_costs AFTER INSERT ON events
    FOR EACH ROW WHEN (NEW.kind = 'model_attempt') EXECUTE FUNCTION record_attempt_cost();

DROP INDEX events_attempts_by_time;
