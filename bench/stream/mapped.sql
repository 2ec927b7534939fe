-- bench/stream (MAPPED=1): the target tables of the mapped pipeline, in the database "mapped" of
-- the crmsync TARGET cluster, after public.lag_probe was created there from the source's
-- `pg_dump -s` and target.sql added its triggers (lag_probe is replicated as-is, so the marker
-- timing is the same as in the identity pipeline).
--
-- What a CRM migration's target looks like: its own schema, its own table and column names, text
-- instead of blank-padded char(n), and a column saying which legacy system a row came from. The
-- primary keys are on the renamed key columns. mapping.yaml says how the pgbench tables fill them.
CREATE SCHEMA crm;

CREATE TABLE crm.accounts (
  account_id integer PRIMARY KEY,           -- pgbench_accounts.aid
  branch_id integer,                        -- bid
  balance integer,                          -- abalance
  notes text,                               -- filler char(84), trimmed
  source_system text NOT NULL               -- constant 'bench'
);

CREATE TABLE crm.branches (
  branch_id integer PRIMARY KEY,            -- pgbench_branches.bid
  balance integer,                          -- bbalance
  notes text,                               -- filler char(88), trimmed
  source_system text NOT NULL
);

CREATE TABLE crm.tellers (
  teller_id integer PRIMARY KEY,            -- pgbench_tellers.tid
  branch_id integer,                        -- bid
  balance integer,                          -- tbalance
  notes text,                               -- filler char(84), trimmed
  source_system text NOT NULL
);

CREATE TABLE crm.account_history (
  history_id bigint PRIMARY KEY,            -- pgbench_history.hid (source.sql's bigserial key)
  teller_id integer,                        -- tid
  branch_id integer,                        -- bid
  account_id integer,                       -- aid
  amount integer,                           -- delta
  happened_at timestamp,                    -- mtime
  notes text,                               -- filler char(22), trimmed
  source_system text NOT NULL
);
