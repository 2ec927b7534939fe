-- bench/stream: run on each TARGET after the source's tables were created there from
-- `pg_dump -s` (so the schemas are identical).
--
-- Two timestamps per lag_probe row, both from the target's clock (the same machine clock as the
-- source's created_at):
--   lag_probe.applied_at          when the apply session wrote the row (BEFORE INSERT trigger);
--   lag_probe_seen.committed_at   when the target transaction holding the row committed (a
--                                 deferred constraint trigger runs at COMMIT): the row became
--                                 visible then. With batching (crmsync applies several source
--                                 transactions in one target transaction) the two differ.
-- (pg_xact_commit_timestamp() cannot be used: for native logical replication the subscriber
-- records the ORIGIN's commit timestamp, which would show zero lag.)
-- Both triggers are ENABLE ALWAYS: native logical replication's apply worker runs with
-- session_replication_role = replica, which skips ordinary triggers. crmsync is an ordinary session.
-- The apply worker runs with an empty search_path: everything is schema-qualified.
CREATE TABLE public.lag_probe_seen (
  id bigint PRIMARY KEY,
  committed_at timestamptz NOT NULL
);

CREATE FUNCTION public.lag_probe_applied() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.applied_at := pg_catalog.clock_timestamp();
  RETURN NEW;
END
$$;
CREATE TRIGGER lag_probe_applied BEFORE INSERT ON public.lag_probe
  FOR EACH ROW EXECUTE FUNCTION public.lag_probe_applied();
ALTER TABLE public.lag_probe ENABLE ALWAYS TRIGGER lag_probe_applied;

CREATE FUNCTION public.lag_probe_seen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.lag_probe_seen (id, committed_at) VALUES (NEW.id, pg_catalog.clock_timestamp())
    ON CONFLICT (id) DO NOTHING;
  RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER lag_probe_seen AFTER INSERT ON public.lag_probe
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.lag_probe_seen();
ALTER TABLE public.lag_probe ENABLE ALWAYS TRIGGER lag_probe_seen;

-- The source commit time of each probe (pg_xact_commit_timestamp on the source, with
-- track_commit_timestamp = on), copied here by the script after a lag test. Target-only.
CREATE TABLE public.lag_probe_src (
  id bigint PRIMARY KEY,
  committed_at timestamptz
);
