-- The legacy CRM that the demo migrates from: schema and deterministic sample data.
-- Load into an empty database (the demo uses `legacy`):
--   psql -v ON_ERROR_STOP=1 -d legacy -f scripts/demo-data/legacy_crm.sql
--
-- Sizes: 200 accounts, 2,000 contacts, 500 deals, 5,000 activities. Every value is derived from
-- md5() of the row id, never from random(), so every load produces byte-identical data. The data
-- is realistically untidy: unicode names, NULLs, contacts without an account, e-mail addresses
-- with stray spaces, capitals or junk, and some notes large enough to be stored out of line
-- (TOAST).

SET client_min_messages = warning;

BEGIN;

-- A deterministic pseudo-random non-negative bigint from a seed string (session-local helper,
-- not part of the schema).
CREATE FUNCTION pg_temp.h(seed text) RETURNS bigint
  LANGUAGE sql IMMUTABLE STRICT
  AS $$ SELECT ('x' || substr(md5(seed), 1, 15))::bit(60)::bigint $$;

-- Picks one element of a text array, deterministically from a seed.
CREATE FUNCTION pg_temp.pick(seed text, choices text[]) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT
  AS $$ SELECT choices[1 + pg_temp.h(seed) % cardinality(choices)] $$;

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
  account_id      bigint REFERENCES accounts (id),
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
  account_id      bigint NOT NULL REFERENCES accounts (id),
  contact_id      bigint REFERENCES contacts (id),
  title           text NOT NULL,
  amount          numeric(12, 2),
  stage           deal_stage NOT NULL DEFAULT 'prospecting',
  closed_at       timestamptz
);
CREATE INDEX deals_account_id_idx ON deals (account_id);

CREATE TABLE activities (
  id              bigserial PRIMARY KEY,
  contact_id      bigint NOT NULL REFERENCES contacts (id),
  kind            text NOT NULL CHECK (kind IN ('call', 'email', 'meeting', 'note')),
  body            text,
  happened_at     timestamptz NOT NULL
);
CREATE INDEX activities_contact_id_idx ON activities (contact_id);

-- ---------------------------------------------------------------------------------------------
-- accounts: 200

INSERT INTO accounts (id, name, industry, website, phone, country, annual_revenue, employee_count,
                      is_active, created_at)
SELECT g,
       n.word || ' ' || n.suffix,
       CASE WHEN pg_temp.h('acct-ind-' || g) % 10 = 0 THEN NULL
            ELSE pg_temp.pick('acct-ind2-' || g, ARRAY['Software', 'Manufacturing', 'Retail',
                 'Healthcare', 'Financial Services', 'Logistics', 'Education', 'Hospitality',
                 'Energy', 'Media']) END,
       CASE WHEN pg_temp.h('acct-web-' || g) % 7 = 0 THEN NULL
            ELSE 'https://www.' || n.slug || '-' || g || '.example' END,
       CASE pg_temp.h('acct-tel-' || g) % 4
            WHEN 0 THEN NULL
            WHEN 1 THEN '+1 (555) ' || lpad((pg_temp.h('acct-tel2-' || g) % 1000)::text, 3, '0')
                        || '-' || lpad((pg_temp.h('acct-tel3-' || g) % 10000)::text, 4, '0')
            ELSE '+' || (30 + pg_temp.h('acct-tel4-' || g) % 60)::text || ' '
                 || lpad((pg_temp.h('acct-tel5-' || g) % 100000000)::text, 8, '0') END,
       n.country,
       CASE WHEN pg_temp.h('acct-rev-' || g) % 5 = 0 THEN NULL
            ELSE round((pg_temp.h('acct-rev2-' || g) % 5000000000) / 100.0 * 10, 2) END,
       CASE WHEN pg_temp.h('acct-emp-' || g) % 6 = 0 THEN NULL
            ELSE (1 + pg_temp.h('acct-emp2-' || g) % 5000)::int END,
       pg_temp.h('acct-act-' || g) % 9 <> 0,
       timestamptz '2014-01-01 00:00:00+00'
         + (pg_temp.h('acct-ts-' || g) % (86400 * 365 * 6)) * interval '1 second'
FROM generate_series(1, 200) AS g
CROSS JOIN LATERAL (
  SELECT w.word, w.slug, w.country,
         pg_temp.pick('acct-sfx-' || g, CASE w.country
           WHEN 'DE' THEN ARRAY['GmbH', 'AG', 'KG']
           WHEN 'FR' THEN ARRAY['SA', 'SARL']
           WHEN 'SE' THEN ARRAY['AB']
           WHEN 'JP' THEN ARRAY['株式会社', 'K.K.']
           WHEN 'BR' THEN ARRAY['Ltda.', 'S.A.']
           WHEN 'GB' THEN ARRAY['Ltd', 'PLC']
           ELSE ARRAY['Inc.', 'LLC', 'Corp.', 'Group'] END) AS suffix
  FROM (VALUES
    (0, 'Acme', 'acme', 'US'), (1, 'Globex', 'globex', 'US'), (2, 'Initech', 'initech', 'US'),
    (3, 'Umbrella', 'umbrella', 'GB'), (4, 'Müller & Söhne', 'mueller-soehne', 'DE'),
    (5, 'Nordström Logistik', 'nordstrom', 'SE'), (6, 'Café Olé', 'cafe-ole', 'FR'),
    (7, 'Hooli', 'hooli', 'US'), (8, 'Vandelay Industries', 'vandelay', 'US'),
    (9, 'São Paulo Têxtil', 'sp-textil', 'BR'), (10, '東京精密', 'tokyo-seimitsu', 'JP'),
    (11, 'Stark Engineering', 'stark', 'US'), (12, 'Wayne Holdings', 'wayne', 'US'),
    (13, 'Brückner Maschinenbau', 'brueckner', 'DE'), (14, 'Øresund Shipping', 'oresund', 'SE'),
    (15, 'Lumière Cosmétiques', 'lumiere', 'FR'), (16, 'Soylent', 'soylent', 'US'),
    (17, 'Tyrell Systems', 'tyrell', 'GB'), (18, 'Cyberdyne', 'cyberdyne', 'US'),
    (19, 'Kōbe Foods', 'kobe-foods', 'JP')
  ) AS w (i, word, slug, country)
  WHERE w.i = pg_temp.h('acct-name-' || g) % 20
) AS n;

-- ---------------------------------------------------------------------------------------------
-- contacts: 2,000

INSERT INTO contacts (id, account_id, first_name, last_name, email, phone, notes, custom_fields,
                      created_at, updated_at)
SELECT g,
       CASE WHEN pg_temp.h('ct-orphan-' || g) % 33 = 0 THEN NULL     -- a contact with no account
            ELSE 1 + pg_temp.h('ct-acct-' || g) % 200 END,
       f.name,
       l.name,
       CASE
         WHEN g % 53 = 0 THEN NULL
         WHEN g % 97 = 0 THEN 'n/a'                                     -- legacy junk
         WHEN g % 37 = 0 THEN '  ' || upper(f.ascii || '.' || l.ascii) || g || '@Example.COM '
         ELSE f.ascii || '.' || l.ascii || g || '@'
              || pg_temp.pick('ct-dom-' || g, ARRAY['example.com', 'example.org', 'mail.example',
                                                    'example.net'])
       END,
       CASE pg_temp.h('ct-tel-' || g) % 5
         WHEN 0 THEN NULL
         WHEN 1 THEN '555-' || lpad((pg_temp.h('ct-tel2-' || g) % 10000)::text, 4, '0')
         WHEN 2 THEN '+49 30 ' || lpad((pg_temp.h('ct-tel3-' || g) % 10000000)::text, 7, '0')
         ELSE '(555) ' || lpad((pg_temp.h('ct-tel4-' || g) % 1000)::text, 3, '0') || '-'
              || lpad((pg_temp.h('ct-tel5-' || g) % 10000)::text, 4, '0')
       END,
       CASE
         -- Every 50th contact has a long, poorly compressible note: stored out of line (TOAST).
         WHEN g % 50 = 0 THEN 'Call log export. '
              || (SELECT string_agg(md5('ct-note-' || g || '-' || i), ' ') FROM generate_series(1, 120) AS i)
         WHEN pg_temp.h('ct-notes-' || g) % 3 = 0 THEN NULL
         ELSE pg_temp.pick('ct-note1-' || g, ARRAY['Met at trade fair.', 'Prefers e-mail.',
              'Decision maker — loop in before Q4.', 'Spricht nur Deutsch.', 'Née Dupont.',
              'Do not call before 10:00.', 'VIP ★', 'Renewal owner; very responsive.'])
       END,
       CASE
         WHEN pg_temp.h('ct-cf-' || g) % 4 = 0 THEN NULL
         ELSE jsonb_strip_nulls(jsonb_build_object(
                'lead_source', pg_temp.pick('ct-src-' || g, ARRAY['web', 'referral', 'event',
                                                                 'cold_call', 'partner']),
                'score', pg_temp.h('ct-score-' || g) % 100,
                'newsletter', pg_temp.h('ct-nl-' || g) % 2 = 0,
                'tags', CASE WHEN g % 3 = 0 THEN jsonb_build_array('customer', 'emea')
                             WHEN g % 3 = 1 THEN jsonb_build_array('prospect')
                             ELSE '[]'::jsonb END,
                'preferred_name', CASE WHEN g % 11 = 0 THEN f.name || ' ☺' END))
       END,
       c.created_at,
       CASE WHEN pg_temp.h('ct-upd-' || g) % 4 = 0 THEN NULL
            ELSE c.created_at + (pg_temp.h('ct-upd2-' || g) % (86400 * 400)) * interval '1 second' END
FROM generate_series(1, 2000) AS g
CROSS JOIN LATERAL (
  SELECT timestamptz '2016-01-01 00:00:00+00'
           + (pg_temp.h('ct-ts-' || g) % (86400 * 365 * 5)) * interval '1 second' AS created_at
) AS c
CROSS JOIN LATERAL (
  SELECT v.name, v.ascii FROM (VALUES
    (0, 'Anna', 'anna'), (1, 'José', 'jose'), (2, 'Zoë', 'zoe'), (3, 'Søren', 'soren'),
    (4, 'Łukasz', 'lukasz'), (5, 'Ana María', 'anamaria'), (6, '美咲', 'misaki'),
    (7, 'Дмитрий', 'dmitry'), (8, 'François', 'francois'), (9, 'Björn', 'bjorn'),
    (10, 'Nguyễn Văn', 'nguyen'), (11, 'Priya', 'priya'), (12, 'John', 'john'),
    (13, 'Mary', 'mary'), (14, 'Ahmed', 'ahmed'), (15, 'Chloé', 'chloe'), (16, 'Jürgen', 'juergen'),
    (17, 'Siobhán', 'siobhan'), (18, 'Kenji', 'kenji'), (19, 'Olga', 'olga')
  ) AS v (i, name, ascii)
  WHERE v.i = pg_temp.h('ct-first-' || g) % 20
) AS f
CROSS JOIN LATERAL (
  SELECT v.name, v.ascii FROM (VALUES
    (0, 'Müller', 'mueller'), (1, 'García', 'garcia'), (2, 'O''Brien', 'obrien'),
    (3, 'Øvergaard', 'overgaard'), (4, '田中', 'tanaka'), (5, 'Иванова', 'ivanova'),
    (6, 'Smith', 'smith'), (7, 'Johnson', 'johnson'), (8, 'Kowalski', 'kowalski'),
    (9, 'Dubois', 'dubois'), (10, 'Rossi', 'rossi'), (11, 'Novák', 'novak'),
    (12, 'van der Berg', 'vanderberg'), (13, 'Papadopoulos', 'papadopoulos'),
    (14, 'Şahin', 'sahin'), (15, 'Lee', 'lee'), (16, 'Fernández-López', 'fernandezlopez'),
    (17, 'Nakamura', 'nakamura'), (18, 'Ó Súilleabháin', 'osullivan'), (19, 'Patel', 'patel')
  ) AS v (i, name, ascii)
  WHERE v.i = pg_temp.h('ct-last-' || g) % 20
) AS l;

-- ---------------------------------------------------------------------------------------------
-- deals: 500 (the deal's account is its contact's account when there is one)

INSERT INTO deals (id, account_id, contact_id, title, amount, stage, closed_at)
SELECT g,
       coalesce(ct.account_id, 1 + pg_temp.h('deal-acct-' || g) % 200),
       CASE WHEN pg_temp.h('deal-noct-' || g) % 10 = 0 THEN NULL ELSE ct.id END,
       pg_temp.pick('deal-prod-' || g, ARRAY['CRM seats', 'Support plan', 'Onboarding package',
            'Data migration', 'Analytics add-on', 'Mobile licences', 'API access'])
         || ' — '
         || pg_temp.pick('deal-kind-' || g, ARRAY['new business', 'renewal', 'expansion', 'pilot']),
       CASE WHEN pg_temp.h('deal-amt-' || g) % 12 = 0 THEN NULL
            ELSE round((500 + pg_temp.h('deal-amt2-' || g) % 49950000) / 100.0, 2) END,
       s.stage,
       CASE WHEN s.stage IN ('closed_won', 'closed_lost')
            THEN timestamptz '2019-01-01 00:00:00+00'
                 + (pg_temp.h('deal-closed-' || g) % (86400 * 365 * 2)) * interval '1 second' END
FROM generate_series(1, 500) AS g
JOIN contacts AS ct ON ct.id = 1 + pg_temp.h('deal-ct-' || g) % 2000
CROSS JOIN LATERAL (
  SELECT (enum_range(NULL::deal_stage))[1 + pg_temp.h('deal-stage-' || g) % 6] AS stage
) AS s;

-- ---------------------------------------------------------------------------------------------
-- activities: 5,000

INSERT INTO activities (id, contact_id, kind, body, happened_at)
SELECT g,
       1 + pg_temp.h('act-ct-' || g) % 2000,
       k.kind,
       CASE
         WHEN pg_temp.h('act-nobody-' || g) % 8 = 0 THEN NULL
         WHEN k.kind = 'call' THEN 'Call, ' || (1 + pg_temp.h('act-min-' || g) % 45) || ' min: '
              || pg_temp.pick('act-call-' || g, ARRAY['discussed pricing', 'left voicemail',
                   'demo scheduled', 'asked for references', 'Rückruf erbeten'])
         WHEN k.kind = 'email' THEN 'Re: ' || pg_temp.pick('act-mail-' || g, ARRAY['Quote',
              'Contract draft', 'Invoice #' || (10000 + g), 'Ihre Anfrage', 'Follow-up'])
         WHEN k.kind = 'meeting' THEN 'Meeting at '
              || pg_temp.pick('act-where-' || g, ARRAY['their office', 'our office', 'Zoom',
                   'Café Central', '東京 office'])
         ELSE 'Note: ' || md5('act-note-' || g)
       END,
       timestamptz '2018-01-01 00:00:00+00'
         + (pg_temp.h('act-ts-' || g) % (86400 * 365 * 3)) * interval '1 second'
FROM generate_series(1, 5000) AS g
CROSS JOIN LATERAL (
  SELECT pg_temp.pick('act-kind-' || g, ARRAY['call', 'email', 'email', 'meeting', 'note']) AS kind
) AS k;

-- Explicit ids were inserted: move the sequences past them so new rows get fresh ids.
DO $$
BEGIN
  PERFORM setval(pg_get_serial_sequence('accounts', 'id'), (SELECT max(id) FROM accounts));
  PERFORM setval(pg_get_serial_sequence('contacts', 'id'), (SELECT max(id) FROM contacts));
  PERFORM setval(pg_get_serial_sequence('deals', 'id'), (SELECT max(id) FROM deals));
  PERFORM setval(pg_get_serial_sequence('activities', 'id'), (SELECT max(id) FROM activities));
END
$$;

COMMIT;

ANALYZE accounts, contacts, deals, activities;
