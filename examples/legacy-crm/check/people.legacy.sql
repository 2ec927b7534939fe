-- What crm.people must hold: names split at the last blank, addresses trimmed and lowercased,
-- phones in E.164, titles trimmed and cut to 100 characters, the account by its legacy id.
SELECT c.contact_id, c.acct_id, e.first_name, e.last_name, e.email, e.phone, left(nullif(btrim(c.title), ''), 100)
FROM contacts c
JOIN planted.people e USING (contact_id)
WHERE NOT EXISTS (SELECT 1 FROM planted.dirt d WHERE d.tbl = 'public.contacts' AND d.key = c.contact_id)
ORDER BY 1
