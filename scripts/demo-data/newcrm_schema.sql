-- The new CRM's side of the demo: the same four tables as the legacy CRM (identity mapping: same
-- schema, table and column names and types), created empty. Load into an empty database (the
-- demo uses `newcrm`):
--   psql -v ON_ERROR_STOP=1 -d newcrm -f scripts/demo-data/newcrm_schema.sql
--
-- Primary keys, NOT NULL and CHECK constraints match the source, and so do the foreign keys: the
-- copy loads tables in parallel, each chunk in its own transaction, so a contact may arrive before
-- its account, but crmsync's sessions run with session_replication_role = replica (as
-- PostgreSQL's own logical replication does), so foreign keys are not checked for replicated rows
-- and the target ends up consistent whatever the order.

SET client_min_messages = warning;

BEGIN;

CREATE TYPE deal_stage AS ENUM
  ('prospecting', 'qualification', 'proposal', 'negotiation', 'closed_won', 'closed_lost');

CREATE TABLE accounts (
  id              bigserial PRIMARY KEY,
  name            text NOT NULL,
  industry        text,
  website         text,
  phone           text,
  country         char(2),
  annual_revenue  numeric(14, 2),
  employee_count  integer,
  is_active       boolean NOT NULL DEFAULT true,
  created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE contacts (
  id              bigserial PRIMARY KEY,
  account_id      bigint REFERENCES accounts,
  first_name      text NOT NULL,
  last_name       text NOT NULL,
  email           text,
  phone           text,
  notes           text,
  custom_fields   jsonb,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz
);
CREATE INDEX contacts_account_id_idx ON contacts (account_id);

CREATE TABLE deals (
  id              bigserial PRIMARY KEY,
  account_id      bigint NOT NULL REFERENCES accounts,
  contact_id      bigint REFERENCES contacts,
  title           text NOT NULL,
  amount          numeric(12, 2),
  stage           deal_stage NOT NULL DEFAULT 'prospecting',
  closed_at       timestamptz
);
CREATE INDEX deals_account_id_idx ON deals (account_id);

CREATE TABLE activities (
  id              bigserial PRIMARY KEY,
  contact_id      bigint NOT NULL REFERENCES contacts,
  kind            text NOT NULL CHECK (kind IN ('call', 'email', 'meeting', 'note')),
  body            text,
  happened_at     timestamptz NOT NULL
);
CREATE INDEX activities_contact_id_idx ON activities (contact_id);

COMMIT;
