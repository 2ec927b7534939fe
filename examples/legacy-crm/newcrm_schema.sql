-- The new CRM: its own ids, its own names, enums instead of codes, E.164 phones, lowercase
-- e-mail addresses, real dates and real foreign keys. Load into an empty database:
--   psql -v ON_ERROR_STOP=1 -d newcrm -f examples/legacy-crm/newcrm_schema.sql
--
-- Every table keeps the legacy id in `legacy_id` (unique): the mapping's lookups turn legacy
-- foreign keys into the new CRM's ids through it, and updates and deletes from the legacy CRM find
-- their rows by it. The new CRM's ids come from identity columns that crmsync never writes.

SET client_min_messages = warning;

CREATE SCHEMA crm;

CREATE TYPE crm.industry AS ENUM ('software', 'manufacturing', 'retail', 'healthcare', 'finance', 'other');
CREATE TYPE crm.deal_stage AS ENUM ('lead', 'qualified', 'proposal', 'negotiation', 'won', 'lost');
CREATE TYPE crm.engagement_kind AS ENUM ('call', 'email', 'meeting', 'task');

CREATE TABLE crm.companies (
  id              bigint GENERATED ALWAYS AS IDENTITY (START WITH 100001) PRIMARY KEY,
  legacy_id       integer NOT NULL UNIQUE,
  name            text NOT NULL,
  industry        crm.industry NOT NULL,
  phone           text CHECK (phone ~ '^\+[1-9][0-9]{7,14}$'),
  country         text NOT NULL,
  customer_since  date,
  created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE crm.people (
  id          bigint GENERATED ALWAYS AS IDENTITY (START WITH 500001) PRIMARY KEY,
  legacy_id   integer NOT NULL UNIQUE,
  company_id  bigint REFERENCES crm.companies (id),
  first_name  text,
  last_name   text NOT NULL,
  email       text CHECK (email = lower(email)),
  phone       text CHECK (phone ~ '^\+[1-9][0-9]{7,14}$'),
  job_title   varchar(100)
);
CREATE INDEX people_company_id_idx ON crm.people (company_id);
-- The new CRM allows two people with one address (it flags them for a merge, see the README).
CREATE INDEX people_email_idx ON crm.people (email);

CREATE TABLE crm.deals (
  id              bigint GENERATED ALWAYS AS IDENTITY (START WITH 900001) PRIMARY KEY,
  legacy_id       integer NOT NULL UNIQUE,
  company_id      bigint NOT NULL REFERENCES crm.companies (id),
  person_id       bigint REFERENCES crm.people (id),
  name            text NOT NULL,
  amount          numeric(12, 2),
  stage           crm.deal_stage NOT NULL,
  expected_close  date
);

CREATE TABLE crm.engagements (
  id           bigint GENERATED ALWAYS AS IDENTITY (START WITH 2000001) PRIMARY KEY,
  legacy_id    integer NOT NULL UNIQUE,
  person_id    bigint NOT NULL REFERENCES crm.people (id),
  kind         crm.engagement_kind NOT NULL,
  subject      text,
  occurred_at  timestamp NOT NULL
);

CREATE TABLE crm.notes (
  id         bigint GENERATED ALWAYS AS IDENTITY (START WITH 5000001) PRIMARY KEY,
  legacy_id  integer NOT NULL UNIQUE,
  person_id  bigint NOT NULL REFERENCES crm.people (id),
  body       text NOT NULL
);
