-- What crm.notes must hold: the text unchanged (kilobytes, stored out of line on both sides).
SELECT n.note_id, n.contact_id, length(n.body), md5(n.body)
FROM notes n
WHERE NOT EXISTS (SELECT 1 FROM planted.dirt d WHERE d.tbl = 'public.notes' AND d.key = n.note_id)
ORDER BY 1
