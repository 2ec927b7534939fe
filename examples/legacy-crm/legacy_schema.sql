-- The legacy CRM: what a ten-year-old in-house CRM looks like. Load into an empty database:
--   psql -v ON_ERROR_STOP=1 -d legacy -f examples/legacy-crm/legacy_schema.sql
-- Then fill it with examples/legacy-crm/generate.sql (SELECT examples.generate(scale)).
--
-- What makes it legacy: integer ids the new CRM will not keep, one `full_name` where the new CRM
-- wants two, numeric stage codes, dates kept as DD/MM/YYYY text, phone numbers typed by hand in
-- every format, and no foreign keys (the old application checked them, not always).

SET client_min_messages = warning;

CREATE TABLE accounts (
  acct_id    integer PRIMARY KEY,
  acct_name  text NOT NULL,
  industry   text,            -- legacy codes: SW, MFG, RET, HC, FIN; sometimes lowercase, or NULL
  phone      text,            -- as typed
  country    char(2) NOT NULL,
  created    text             -- DD/MM/YYYY
);

CREATE TABLE contacts (
  contact_id integer PRIMARY KEY,
  acct_id    integer,         -- no foreign key: may point at an account that is long gone
  full_name  text NOT NULL,   -- "first last"; first names may have two words ("Mary Ann")
  email      text,            -- mixed case, stray blanks, sometimes not an address at all
  phone      text,
  title      text
);
CREATE INDEX contacts_acct_id_idx ON contacts (acct_id);

CREATE TABLE opportunities (
  opp_id      integer PRIMARY KEY,
  acct_id     integer NOT NULL,
  contact_id  integer,
  opp_name    text NOT NULL,
  amount      numeric(12, 2),
  stage_code  text NOT NULL,  -- 10 lead, 20 qualified, 30 proposal, 40 negotiation, CW won, CL lost
  close_date  text            -- DD/MM/YYYY, or empty
);

CREATE TABLE activities (
  activity_id integer PRIMARY KEY,
  contact_id  integer NOT NULL,
  act_type    char(1) NOT NULL,  -- C call, E e-mail, M meeting, T task
  subject     text,
  act_at      timestamp NOT NULL
);
CREATE INDEX activities_contact_id_idx ON activities (contact_id);

CREATE TABLE notes (
  note_id     integer PRIMARY KEY,
  contact_id  integer NOT NULL,
  body        text NOT NULL      -- free text, often kilobytes (stored out of line: TOAST)
);
