SELECT n.legacy_id, p.legacy_id, length(n.body), md5(n.body)
FROM crm.notes n
LEFT JOIN crm.people p ON p.id = n.person_id
ORDER BY 1
