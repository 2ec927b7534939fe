-- Not a check: the people the new CRM should merge, because their addresses are the same once
-- trimmed and lowercased (the legacy CRM compared them as typed).
SELECT email, count(*) AS people, string_agg(legacy_id::text, ', ' ORDER BY legacy_id) AS legacy_ids
FROM crm.people
WHERE email IS NOT NULL
GROUP BY email
HAVING count(*) > 1
ORDER BY email
