-- Fills public.contacts with :rows deterministic rows (ids 1..:rows; every value derives from the
-- id through md5, so two runs with the same ROWS produce the same table, byte for byte).
-- Run with: psql -v rows=N -f generate.sql
INSERT INTO public.contacts
SELECT id,
       initcap(substr(h1, 1, 4 + (id % 5)::int)),
       initcap(substr(h1, 10, 5 + (id % 7)::int)),
       substr(h1, 1, 8) || '.' || substr(h2, 1, 6) || '@'
         || (ARRAY['example.com', 'acme.io', 'mail.test', 'corp.example'])[1 + (id % 4)::int],
       '+1-' || lpad(((id * 7919) % 1000)::text, 3, '0') || '-555-' || lpad((id % 10000)::text, 4, '0'),
       initcap(substr(h2, 8, 6 + (id % 6)::int)) || ' '
         || (ARRAY['Inc', 'LLC', 'GmbH', 'Ltd', 'SA'])[1 + (id % 5)::int],
       CASE WHEN id % 5 = 0 THEN NULL
            ELSE 'Met at ' || substr(h3, 1, 10) || '; follow up: ' || substr(h1 || h2, 1, (id % 20)::int) END,
       jsonb_build_object('source', (ARRAY['web', 'import', 'api', 'event'])[1 + (id % 4)::int],
                          'score', id % 100,
                          'tags', jsonb_build_array(substr(h2, 1, 6)),
                          'vip', id % 17 = 0),
       timestamptz '2015-01-01 00:00:00+00' + id * interval '97 seconds',
       timestamptz '2015-01-01 00:00:00+00' + id * interval '97 seconds' + (id % 1000) * interval '1 hour'
FROM (SELECT g::bigint AS id, md5(g::text) AS h1, md5((g * 2)::text) AS h2, md5((g * 3)::text) AS h3
      FROM generate_series(1, :rows) AS g) AS s;
