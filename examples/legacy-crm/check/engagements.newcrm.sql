SELECT e.legacy_id, p.legacy_id, e.kind::text, e.subject, e.occurred_at
FROM crm.engagements e
LEFT JOIN crm.people p ON p.id = e.person_id
ORDER BY 1
