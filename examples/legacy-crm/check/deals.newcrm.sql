SELECT d.legacy_id, co.legacy_id, p.legacy_id, d.name, d.amount, d.stage::text, d.expected_close
FROM crm.deals d
LEFT JOIN crm.companies co ON co.id = d.company_id
LEFT JOIN crm.people p ON p.id = d.person_id
ORDER BY 1
