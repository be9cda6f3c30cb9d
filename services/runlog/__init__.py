"""The run log: the only writer of Postgres.

- `migrations/NNNN_*.sql` + `migrations.py`: the schema (runs, append-only events, session state, the
  attempt_costs view), applied at start-up in the settings' db_schema, each version once.
- `service.py`: the RunLog gRPC service (append, get, list, stream with LISTEN/NOTIFY, state, spend).
- `redaction.py`: API keys and secret fields are masked before anything is written.

Replay is not here: it must run the scheduler's own turn loop, and a service imports only the common module,
the contracts and itself. It lives in `cli/replay.py` (`agentmesh replay RUN`), which reads a run from this
service over gRPC and drives `services.scheduler.loop.run_turn` with ports that answer from the log.
"""
