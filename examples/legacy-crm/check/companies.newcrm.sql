SELECT legacy_id, name, industry::text, phone, country, customer_since
FROM crm.companies
ORDER BY 1
