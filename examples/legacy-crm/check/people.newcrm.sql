-- The company by its legacy id: proves the foreign key was remapped to the new CRM's id.
SELECT p.legacy_id, co.legacy_id, p.first_name, p.last_name, p.email, p.phone, p.job_title::text
FROM crm.people p
LEFT JOIN crm.companies co ON co.id = p.company_id
ORDER BY 1
