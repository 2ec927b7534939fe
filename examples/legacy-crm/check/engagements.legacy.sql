-- What crm.engagements must hold: activity type letters mapped to the enum.
SELECT a.activity_id, a.contact_id,
       CASE a.act_type WHEN 'C' THEN 'call' WHEN 'E' THEN 'email' WHEN 'M' THEN 'meeting' WHEN 'T' THEN 'task' END,
       a.subject, a.act_at
FROM activities a
WHERE NOT EXISTS (SELECT 1 FROM planted.dirt d WHERE d.tbl = 'public.activities' AND d.key = a.activity_id)
ORDER BY 1
