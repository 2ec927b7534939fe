-- What crm.companies must hold: every legacy account that no rule refuses, as the mapping and the
-- generator's expectations (planted.companies) say. Compare with companies.newcrm.sql.
SELECT a.acct_id, btrim(a.acct_name), e.industry, e.phone, a.country::text, e.customer_since
FROM accounts a
JOIN planted.companies e USING (acct_id)
WHERE NOT EXISTS (SELECT 1 FROM planted.dirt d WHERE d.tbl = 'public.accounts' AND d.key = a.acct_id)
ORDER BY 1
