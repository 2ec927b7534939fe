-- bench/stream: the pgbench script of a lag probe (mixed with the built-in tpcb-like script).
INSERT INTO public.lag_probe (note) VALUES ('probe');
