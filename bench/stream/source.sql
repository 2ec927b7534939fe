-- bench/stream: run on each SOURCE after `pgbench -i -s SCALE` (psql -v rows=ROWS_BIG).
--
-- pgbench_history has no primary key; crmsync and native logical replication both need a replica
-- identity key on every published table (history only ever gets INSERTs, but the publication
-- publishes UPDATE and DELETE too). The same schema is used on both pairs.
ALTER TABLE public.pgbench_history ADD COLUMN hid bigserial PRIMARY KEY;

-- Probes and markers. A probe is inserted by the pgbench mix during the lag test; a marker is
-- inserted by the script as the last transaction of a backlog: once it is visible on the target,
-- every transaction committed before it on the source has been applied (both apply in commit
-- order). applied_at stays NULL here; the target's trigger fills it in.
CREATE TABLE public.lag_probe (
  id bigserial PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  applied_at timestamptz,
  note text NOT NULL DEFAULT 'probe'
);

-- The big-transaction test: one UPDATE of every row, replicated as one transaction.
CREATE TABLE public.big (
  id integer PRIMARY KEY,
  n integer NOT NULL,
  pad text NOT NULL
);
INSERT INTO public.big (id, n, pad)
SELECT g, 0, md5(g::text) || md5((-g)::text) FROM generate_series(1, :rows) AS g;

VACUUM ANALYZE;
