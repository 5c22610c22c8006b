"""AIOps: ingestion, log intelligence, detection, correlation, root cause, incidents, runbooks."""
