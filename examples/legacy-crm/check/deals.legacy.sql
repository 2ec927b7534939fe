-- What crm.deals must hold: stage codes mapped to the enum, DD/MM/YYYY dates as dates.
SELECT o.opp_id, o.acct_id, o.contact_id, btrim(o.opp_name), o.amount, e.stage, e.expected_close
FROM opportunities o
JOIN planted.deals e USING (opp_id)
WHERE NOT EXISTS (SELECT 1 FROM planted.dirt d WHERE d.tbl = 'public.opportunities' AND d.key = o.opp_id)
ORDER BY 1
