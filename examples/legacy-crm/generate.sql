-- A generator of legacy CRM data with planted dirt, and a write workload, for the legacy CRM of
-- examples/legacy-crm/legacy_schema.sql. Load after the schema, then generate:
--   psql -v ON_ERROR_STOP=1 -d legacy -f examples/legacy-crm/generate.sql
--   psql -d legacy -c "SELECT examples.generate(5)"     -- 200 accounts, 2,000 contacts, ...
--   psql -d legacy -c "SELECT examples.workload_step(i) FROM generate_series(1, 100) i"
--
-- Scale s: 40·s accounts, 400·s contacts, 100·s opportunities, 1,000·s activities, 100·s notes.
-- Every value comes from md5() of a seed: the same scale gives byte-identical data.
--
-- Two schemas besides the legacy tables, neither of them replicated:
--   examples  the functions.
--   planted   what the generator knows the new CRM must end up with: the expected target value of
--             every column a transform changes (planted.companies, .people, .deals) and every
--             row it made dirty on purpose (planted.dirt: table, key, the rule that must refuse it
--             and the column). The workload keeps both up to date in the same transactions. The
--             check queries in check/ and the end-to-end test compare the new CRM against it.
--
-- Dirt planted, as in real legacy data: e-mail addresses that are not addresses, phone numbers
-- that are not numbers, foreign keys to rows that are gone, stage codes nobody remembers, and
-- duplicate e-mail addresses that differ only in case (the new CRM accepts those; check/ lists
-- them for a merge).

SET client_min_messages = warning;

CREATE SCHEMA examples;
CREATE SCHEMA planted;

CREATE TABLE planted.companies (acct_id integer PRIMARY KEY, industry text, phone text, customer_since date);
CREATE TABLE planted.people (contact_id integer PRIMARY KEY, first_name text, last_name text, email text, phone text);
CREATE TABLE planted.deals (opp_id integer PRIMARY KEY, stage text, expected_close date);
CREATE TABLE planted.dirt (
  tbl     text NOT NULL,     -- legacy table, e.g. public.contacts
  key     integer NOT NULL,
  rule    text NOT NULL,     -- the rule that must refuse it: email, e164, lookup, map
  col     text NOT NULL,     -- the legacy column it refuses
  PRIMARY KEY (tbl, key)
);

-- A deterministic non-negative bigint from a seed.
CREATE FUNCTION examples.h(seed text) RETURNS bigint
  LANGUAGE sql IMMUTABLE STRICT
  AS $$ SELECT ('x' || substr(md5(seed), 1, 15))::bit(60)::bigint $$;

CREATE FUNCTION examples.pick(seed text, choices text[]) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT
  AS $$ SELECT choices[1 + examples.h(seed) % cardinality(choices)] $$;

-- A phone number as someone typed it, and the E.164 form the new CRM must get. Seven in ten are
-- North American (the mapping's default country, so also written without a country code), the
-- rest British and German, written internationally.
CREATE FUNCTION examples.phone(seed text, OUT e164 text, OUT typed text)
  LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
  kind  int := examples.h(seed || ':k') % 10;
  style int := examples.h(seed || ':s') % 5;
  a text := (200 + examples.h(seed || ':a') % 800)::text;
  b text := (200 + examples.h(seed || ':b') % 800)::text;
  c text := lpad((examples.h(seed || ':c') % 10000)::text, 4, '0');
  d text := lpad((examples.h(seed || ':d') % 10000)::text, 4, '0');
BEGIN
  IF kind < 7 THEN
    e164 := '+1' || a || b || c;
    typed := CASE style WHEN 0 THEN '(' || a || ') ' || b || '-' || c
                        WHEN 1 THEN a || '.' || b || '.' || c
                        WHEN 2 THEN '+1 ' || a || ' ' || b || ' ' || c
                        WHEN 3 THEN '1-' || a || '-' || b || '-' || c
                        ELSE ' ' || a || b || c || ' ' END;
  ELSIF kind < 9 THEN
    e164 := '+4420' || c || d;
    typed := CASE style % 3 WHEN 0 THEN '+44 20 ' || c || ' ' || d
                            WHEN 1 THEN '0044 20 ' || c || d
                            ELSE '+44-20-' || c || '-' || d END;
  ELSE
    e164 := '+4930' || b || c;
    typed := CASE style % 2 WHEN 0 THEN '+49 30 ' || b || c
                            ELSE '0049 30 ' || b || ' ' || left(c, 2) || ' ' || right(c, 2) END;
  END IF;
END $$;

-- A contact's name, its parts as the new CRM stores them, and its normalised e-mail address.
-- Names are Unicode, e-mail addresses ASCII (lowercasing them is then the same in any locale).
CREATE FUNCTION examples.person(id integer, OUT first_name text, OUT last_name text, OUT email text)
  LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
  firsts text[] := ARRAY['Anna', 'Åsa', 'José', 'Mary Ann', 'Li', 'Olusegun', 'Zoë', 'Jean-Luc', 'Priya',
                         'Marek', 'Søren', 'Chloé', 'Wei', 'Fatima', 'John', 'Ana María'];
  fslugs text[] := ARRAY['anna', 'asa', 'jose', 'maryann', 'li', 'olusegun', 'zoe', 'jeanluc', 'priya',
                         'marek', 'soren', 'chloe', 'wei', 'fatima', 'john', 'anamaria'];
  lasts  text[] := ARRAY['Smith', 'Müller', 'García', 'Nguyen', 'O''Brien', 'Kowalski', 'Rossi', 'Lindqvist',
                         'Okafor', 'Tanaka', 'Dubois', 'Silva', 'Patel', 'Kim', 'Hughes', 'Żółć'];
  lslugs text[] := ARRAY['smith', 'mueller', 'garcia', 'nguyen', 'obrien', 'kowalski', 'rossi', 'lindqvist',
                         'okafor', 'tanaka', 'dubois', 'silva', 'patel', 'kim', 'hughes', 'zolc'];
  f int := 1 + examples.h('first:' || id) % 16;
  l int := 1 + examples.h('last:' || id) % 16;
BEGIN
  first_name := firsts[f];
  last_name := lasts[l];
  email := fslugs[f] || '.' || lslugs[l] || id || '@'
           || examples.pick('dom:' || id, ARRAY['example.com', 'mail.example.org', 'corp.example.net']);
END $$;

-- The address as the legacy CRM holds it: the same one in another case, with blanks around it.
CREATE FUNCTION examples.untidy_email(email text, seed text) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT CASE examples.h(seed) % 4 WHEN 0 THEN email WHEN 1 THEN initcap(email)
                                   WHEN 2 THEN '  ' || email || ' ' ELSE upper(email) END $$;

-- One contact, clean or with the dirt `dirt` ('' none, 'email', 'e164', 'lookup', 'duplicate'),
-- with its expected values in planted.people and its dirt in planted.dirt.
CREATE FUNCTION examples.add_contact(id integer, account integer, dirt text, seed text) RETURNS void
  LANGUAGE plpgsql AS $$
DECLARE
  p record := examples.person(id);
  ph record := examples.phone('phone:' || seed);
  email text := p.email;
  typed_email text;
  typed_phone text := ph.typed;
  e164 text := ph.e164;
  acct integer := account;
BEGIN
  IF examples.h('nomail:' || seed) % 20 = 0 THEN email := NULL; END IF;
  IF dirt = 'duplicate' THEN email := (examples.person(id - 1)).email; END IF;
  typed_email := examples.untidy_email(email, 'case:' || seed);
  IF email IS NULL AND examples.h('empty:' || seed) % 2 = 0 THEN typed_email := '  '; END IF;
  IF examples.h('nophone:' || seed) % 10 = 0 THEN typed_phone := NULL; e164 := NULL; END IF;
  IF dirt = 'email' THEN
    typed_email := examples.pick('bad:' || seed, ARRAY[replace(p.email, '@', '@@'), replace(p.email, '@', ' at '),
                                                      split_part(p.email, '@', 1) || '@localhost']);
    INSERT INTO planted.dirt VALUES ('public.contacts', id, 'email', 'email');
  ELSIF dirt = 'e164' THEN
    typed_phone := examples.pick('bad:' || seed, ARRAY['ask reception', '555-0199', '(212) 555-0100 ext. 12',
                                                      '+1 212 555 01']);
    INSERT INTO planted.dirt VALUES ('public.contacts', id, 'e164', 'phone');
  ELSIF dirt = 'lookup' THEN
    acct := 900000 + id;  -- an account deleted years ago
    INSERT INTO planted.dirt VALUES ('public.contacts', id, 'lookup', 'acct_id');
  END IF;
  INSERT INTO contacts VALUES (
    id, acct,
    CASE WHEN examples.h('pad:' || seed) % 7 = 0 THEN ' ' || p.first_name || ' ' || p.last_name || '  '
         ELSE p.first_name || ' ' || p.last_name END,
    typed_email, typed_phone,
    examples.pick('title:' || seed, ARRAY['Head of Sales', '  CTO ', NULL, '', 'Account Executive',
                                         'Procurement', repeat('Senior Vice President ', 6)]));
  INSERT INTO planted.people VALUES (id, p.first_name, p.last_name, email, e164);
END $$;

CREATE FUNCTION examples.add_account(id integer, seed text) RETURNS void
  LANGUAGE plpgsql AS $$
DECLARE
  ph record := examples.phone('aphone:' || seed);
  code text := examples.pick('ind:' || seed, ARRAY['SW', ' sw', 'MFG', 'RET', 'HC', 'FIN', 'XYZ', NULL]);
  since date := date '2012-01-01' + (examples.h('since:' || seed) % 4000)::int;
  has_phone boolean := examples.h('aphone?:' || seed) % 8 <> 0;
  has_since boolean := examples.h('since?:' || seed) % 12 <> 0;
BEGIN
  INSERT INTO accounts VALUES (
    id,
    CASE WHEN examples.h('apad:' || seed) % 5 = 0 THEN '  ' ELSE '' END
      || examples.pick('aname:' || seed, ARRAY['Acme', 'Globex', 'Initech', 'Müller & Söhne', 'Café Olé',
                                              'Nordström Logistik', '東京精密', 'São Paulo Têxtil', 'Hooli'])
      || ' ' || id::text,
    code,
    CASE WHEN has_phone THEN ph.typed END,
    examples.pick('country:' || seed, ARRAY['US', 'GB', 'DE', 'FR', 'JP', 'BR']),
    CASE WHEN has_since THEN to_char(since, 'DD/MM/YYYY') END);
  INSERT INTO planted.companies VALUES (
    id,
    CASE upper(btrim(code)) WHEN 'SW' THEN 'software' WHEN 'MFG' THEN 'manufacturing' WHEN 'RET' THEN 'retail'
                            WHEN 'HC' THEN 'healthcare' WHEN 'FIN' THEN 'finance' ELSE 'other' END,
    CASE WHEN has_phone THEN ph.e164 END,
    CASE WHEN has_since THEN since END);
END $$;

-- Legacy stage codes as typed, and the new CRM's stage.
CREATE FUNCTION examples.stage(seed text, OUT code text, OUT stage text)
  LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
  codes  text[] := ARRAY['10', '20', ' 20', '30', '40', 'CW', 'cw', 'CL'];
  stages text[] := ARRAY['lead', 'qualified', 'qualified', 'proposal', 'negotiation', 'won', 'won', 'lost'];
  i int := 1 + examples.h(seed) % 8;
BEGIN
  code := codes[i];
  stage := stages[i];
END $$;

-- A clean contact (no planted dirt), chosen by a seed.
CREATE FUNCTION examples.clean_contact(seed text) RETURNS integer
  LANGUAGE sql STABLE AS $$
  SELECT contact_id FROM contacts c
  WHERE NOT EXISTS (SELECT 1 FROM planted.dirt d WHERE d.tbl = 'public.contacts' AND d.key = c.contact_id)
  ORDER BY contact_id OFFSET examples.h(seed) % 500 LIMIT 1 $$;

CREATE FUNCTION examples.add_opportunity(id integer, account integer, contact integer, seed text) RETURNS void
  LANGUAGE plpgsql AS $$
DECLARE
  s record := examples.stage('stage:' || seed);
  closes date := date '2025-01-01' + (examples.h('close:' || seed) % 900)::int;
  has_close boolean := examples.h('close?:' || seed) % 4 <> 0;
  code text := s.code;
  person integer := contact;
BEGIN
  IF examples.h('odirt:' || seed) % 40 = 0 THEN
    code := 'XX';  -- a stage someone added in 2016 and nobody remembers
    INSERT INTO planted.dirt VALUES ('public.opportunities', id, 'map', 'stage_code');
  ELSIF examples.h('odirt:' || seed) % 40 = 1 THEN
    person := 900000 + id;
    INSERT INTO planted.dirt VALUES ('public.opportunities', id, 'lookup', 'contact_id');
  END IF;
  INSERT INTO opportunities VALUES (
    id, account, person,
    examples.pick('oname:' || seed, ARRAY['Renewal', 'Upsell', 'New business', 'Pilot', ' Expansion ']) || ' '
      || id::text,
    CASE WHEN examples.h('amt?:' || seed) % 9 = 0 THEN NULL
         ELSE round((examples.h('amt:' || seed) % 10000000) / 100.0, 2) END,
    code,
    CASE WHEN has_close THEN to_char(closes, 'DD/MM/YYYY') ELSE '' END);
  INSERT INTO planted.deals VALUES (id, s.stage, CASE WHEN has_close THEN closes END);
END $$;

CREATE FUNCTION examples.add_activity(id integer, contact integer, seed text) RETURNS void
  LANGUAGE plpgsql AS $$
DECLARE
  person integer := contact;
BEGIN
  IF examples.h('adirt:' || seed) % 150 = 0 THEN
    person := 900000 + id;
    INSERT INTO planted.dirt VALUES ('public.activities', id, 'lookup', 'contact_id');
  END IF;
  INSERT INTO activities VALUES (
    id, person, examples.pick('kind:' || seed, ARRAY['C', 'E', 'M', 'T']),
    examples.pick('subj:' || seed, ARRAY['Intro call', 'Follow-up', 'Quote sent', NULL, 'Démo ☎']),
    timestamp '2020-01-01' + (examples.h('at:' || seed) % 150000000) * interval '1 second');
END $$;

-- Kilobytes of text that does not compress well: stored out of line (TOAST).
CREATE FUNCTION examples.add_note(id integer, contact integer, seed text) RETURNS void
  LANGUAGE sql AS $$
  INSERT INTO notes
  SELECT id, contact, 'Call notes ' || id || E':\n' || string_agg(md5(seed || ':' || g), ' ')
  FROM generate_series(1, 100 + (examples.h('len:' || seed) % 200)::int) g $$;

CREATE FUNCTION examples.generate(scale integer) RETURNS text
  LANGUAGE plpgsql AS $$
DECLARE
  n_accounts int := 40 * scale;
  n_contacts int := 400 * scale;
  clean int[];
  i int;
  c int;
BEGIN
  FOR i IN 1 .. n_accounts LOOP
    PERFORM examples.add_account(i, 'a' || i);
  END LOOP;
  FOR i IN 1 .. n_contacts LOOP
    PERFORM examples.add_contact(i, CASE WHEN examples.h('noacct:' || i) % 15 = 0 THEN NULL
                                         ELSE (1 + examples.h('acct:' || i) % n_accounts)::int END,
                                 CASE examples.h('dirt:' || i) % 50 WHEN 0 THEN 'email' WHEN 1 THEN 'e164'
                                      WHEN 2 THEN 'lookup' WHEN 3 THEN 'duplicate' ELSE '' END,
                                 'c' || i);
  END LOOP;
  clean := ARRAY(SELECT contact_id FROM contacts c
                 WHERE NOT EXISTS (SELECT 1 FROM planted.dirt d WHERE d.tbl = 'public.contacts' AND d.key = c.contact_id)
                 ORDER BY 1);
  FOR i IN 1 .. 100 * scale LOOP
    c := clean[1 + examples.h('ocontact:' || i) % cardinality(clean)];
    PERFORM examples.add_opportunity(i, (1 + examples.h('oacct:' || i) % n_accounts)::int,
                                     CASE WHEN examples.h('ocontact?:' || i) % 10 = 0 THEN NULL ELSE c END, 'o' || i);
  END LOOP;
  FOR i IN 1 .. 1000 * scale LOOP
    PERFORM examples.add_activity(i, clean[1 + examples.h('acontact:' || i) % cardinality(clean)], 'x' || i);
  END LOOP;
  FOR i IN 1 .. 100 * scale LOOP
    PERFORM examples.add_note(i, clean[1 + examples.h('ncontact:' || i) % cardinality(clean)], 'n' || i);
  END LOOP;
  RETURN format('%s accounts, %s contacts, %s opportunities, %s activities, %s notes; %s rows planted dirty',
                n_accounts, n_contacts, 100 * scale, 1000 * scale, 100 * scale, (SELECT count(*) FROM planted.dirt));
END $$;

-- One transaction of the legacy CRM's daily work (step i, any integer ≥ 1; call each i once):
-- new customers, contacts that change phone or e-mail, deals that move on, activities logged and
-- deleted, notes written, contacts moved between accounts, changes to rows that are dirty, and new
-- dirt. Expected values and dirt are kept in planted.* in the same transaction.
CREATE FUNCTION examples.workload_step(i integer) RETURNS void
  LANGUAGE plpgsql AS $$
DECLARE
  seed text := 'w' || i;
  c int;
  ph record;
  s record;
  o int;
  a int;
BEGIN
  CASE i % 6
  WHEN 0 THEN  -- a new customer with two contacts and a deal
    PERFORM examples.add_account(100000 + i, seed);
    PERFORM examples.add_contact(200000 + 2 * i, 100000 + i, '', seed || 'a');
    PERFORM examples.add_contact(200001 + 2 * i, 100000 + i, '', seed || 'b');
    PERFORM examples.add_opportunity(300000 + i, 100000 + i, 200000 + 2 * i, seed);
  WHEN 1 THEN  -- a contact's new phone number, and the address retyped
    c := examples.clean_contact(seed);
    ph := examples.phone('newphone:' || seed);
    UPDATE contacts SET phone = ph.typed,
                        email = examples.untidy_email((SELECT email FROM planted.people WHERE contact_id = c), seed),
                        title = examples.pick('ntitle:' || seed, ARRAY['VP Sales', ' Buyer ', NULL])
    WHERE contact_id = c;
    UPDATE planted.people SET phone = ph.e164 WHERE contact_id = c;
  WHEN 2 THEN  -- a deal moves on
    SELECT opp_id INTO o FROM opportunities op
    WHERE NOT EXISTS (SELECT 1 FROM planted.dirt d WHERE d.tbl = 'public.opportunities' AND d.key = op.opp_id)
    ORDER BY opp_id OFFSET examples.h(seed) % 100 LIMIT 1;
    s := examples.stage('nstage:' || seed);
    UPDATE opportunities SET stage_code = s.code, amount = coalesce(amount, 0) + 100 WHERE opp_id = o;
    UPDATE planted.deals SET stage = s.stage WHERE opp_id = o;
  WHEN 3 THEN  -- an activity deleted, one logged (dirty rows stay: planted.dirt lists what the DLQ holds)
    SELECT activity_id INTO a FROM activities ac
    WHERE NOT EXISTS (SELECT 1 FROM planted.dirt d WHERE d.tbl = 'public.activities' AND d.key = ac.activity_id)
    ORDER BY activity_id OFFSET examples.h(seed) % 1000 LIMIT 1;
    DELETE FROM activities WHERE activity_id = a;
    PERFORM examples.add_activity(400000 + i, examples.clean_contact(seed || 'c'), seed);
  WHEN 4 THEN  -- a dirty contact edited (the change waits behind its dead letter), a note written
    SELECT key INTO c FROM planted.dirt WHERE tbl = 'public.contacts' ORDER BY key OFFSET examples.h(seed) % 10 LIMIT 1;
    UPDATE contacts SET title = 'edited ' || i WHERE contact_id = c;
    PERFORM examples.add_note(500000 + i, examples.clean_contact(seed || 'n'), seed);
  ELSE  -- a contact moves to a new account; a new contact arrives with a bad address
    c := examples.clean_contact(seed);
    UPDATE contacts SET acct_id = (SELECT acct_id FROM accounts ORDER BY acct_id OFFSET examples.h(seed) % 40 LIMIT 1)
    WHERE contact_id = c;
    PERFORM examples.add_contact(200000 + 2 * i, NULL, 'email', seed);
  END CASE;
END $$;
