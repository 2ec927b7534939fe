import json

DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
I = '{instance=~"$instance"}'
RI = "$__rate_interval"

panels = []
_next_id = [1]


def nid():
    i = _next_id[0]
    _next_id[0] += 1
    return i


def target(expr, legend="", ref="A", instant=False, fmt=None):
    t = {"datasource": DS, "editorMode": "code", "expr": expr, "legendFormat": legend or "__auto",
         "range": not instant, "instant": instant, "refId": ref}
    if fmt:
        t["format"] = fmt
    return t


def row(title, y):
    panels.append({"type": "row", "id": nid(), "title": title, "collapsed": False, "panels": [],
                   "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}})


def thresholds(*steps):
    out = [{"color": steps[0], "value": None}]
    for v, c in zip(steps[1::2], steps[2::2]):
        out.append({"color": c, "value": v})
    return {"mode": "absolute", "steps": out}


def stat(title, desc, targets, gp, unit="none", th=None, mappings=None, text_mode="auto", color_mode="value",
         graph_mode="area", color=None, overrides=None, no_value=None, decimals=None):
    defaults = {"unit": unit, "thresholds": th or thresholds("green"), "mappings": mappings or [],
                "color": color or {"mode": "thresholds"}}
    if no_value:
        defaults["noValue"] = no_value
    if decimals is not None:
        defaults["decimals"] = decimals
    panels.append({
        "type": "stat", "id": nid(), "title": title, "description": desc, "datasource": DS, "gridPos": gp,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "orientation": "auto", "textMode": text_mode, "colorMode": color_mode,
                    "graphMode": graph_mode, "justifyMode": "auto", "wideLayout": True},
        "targets": targets,
    })


def ts(title, desc, targets, gp, unit="none", stack=False, fill=10, minimum=0, overrides=None, draw="line",
       th=None, decimals=None, mappings=None):
    custom = {"drawStyle": draw, "lineWidth": 1, "fillOpacity": 30 if stack else fill, "showPoints": "never",
              "spanNulls": False, "lineInterpolation": "linear", "axisPlacement": "auto", "axisLabel": "",
              "gradientMode": "none", "barAlignment": 0, "pointSize": 4,
              "stacking": {"mode": "normal" if stack else "none", "group": "A"},
              "thresholdsStyle": {"mode": "off"}, "hideFrom": {"legend": False, "tooltip": False, "viz": False},
              "scaleDistribution": {"type": "linear"}}
    defaults = {"unit": unit, "custom": custom, "color": {"mode": "palette-classic"},
                "thresholds": th or thresholds("green"), "mappings": mappings or []}
    if minimum is not None:
        defaults["min"] = minimum
    if decimals is not None:
        defaults["decimals"] = decimals
    panels.append({
        "type": "timeseries", "id": nid(), "title": title, "description": desc, "datasource": DS, "gridPos": gp,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom", "showLegend": True,
                               "calcs": ["lastNotNull", "max"]},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
        "targets": targets,
    })


def bargauge(title, desc, targets, gp):
    panels.append({
        "type": "bargauge", "id": nid(), "title": title, "description": desc, "datasource": DS, "gridPos": gp,
        "fieldConfig": {"defaults": {"unit": "percentunit", "min": 0, "max": 1, "decimals": 1,
                                     "color": {"mode": "thresholds"}, "mappings": [],
                                     "thresholds": thresholds("blue", 1, "green")},
                        "overrides": []},
        "options": {"displayMode": "gradient", "orientation": "horizontal", "showUnfilled": True,
                    "valueMode": "color", "namePlacement": "auto", "sizing": "auto", "minVizHeight": 10,
                    "minVizWidth": 0, "maxVizHeight": 300,
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
        "targets": targets,
    })


def gp(x, y, w, h):
    return {"h": h, "w": w, "x": x, "y": y}


def fixed(color):
    return {"mode": "fixed", "fixedColor": color}


def name_color(regex, color):
    return {"matcher": {"id": "byRegexp", "options": regex},
            "properties": [{"id": "color", "value": fixed(color)}]}


# ---------------------------------------------------------------- Overview
row("Overview", 0)
stat("Phase",
     "crmsync_phase: one series per phase; the one at 1 is the pipeline's current phase "
     "(starting, copying, streaming, stopping, stopped, failed).",
     [target(f'crmsync_phase{I} == 1', "{{instance}} {{phase}}", instant=True)],
     gp(0, 1, 4, 4), text_mode="name", color_mode="background", graph_mode="none", color=fixed("blue"),
     overrides=[name_color("/ streaming$/", "green"), name_color("/ copying$/", "blue"),
                name_color("/ (starting|stopping|stopped)$/", "yellow"), name_color("/ failed$/", "red")],
     no_value="no data")
stat("Lag",
     "crmsync_lag_seconds: age of the oldest source change not yet committed on the target (the larger of the "
     "oldest delivered-but-uncommitted transaction and the oldest heartbeat not yet through). /readyz fails "
     "past http.ready_max_lag_s (default 60).",
     [target(f'crmsync_lag_seconds{I}', "{{instance}}")],
     gp(4, 1, 4, 4), unit="s", th=thresholds("green", 10, "yellow", 60, "red"), decimals=1)
stat("Lag (bytes)",
     "crmsync_lag_bytes: source WAL (pg_current_wal_lsn) minus the position committed on the target.",
     [target(f'crmsync_lag_bytes{I}', "{{instance}}")],
     gp(8, 1, 4, 4), unit="bytes", th=thresholds("green", 64 * 2**20, "yellow", 2**30, "red"))
stat("Heartbeat age",
     "crmsync_heartbeat_age_seconds: seconds since the last heartbeat (sent every source.heartbeat_s, default "
     "10 s, while streaming) reached the target; -1 until the first one arrives or with source.heartbeat_s: 0.",
     [target(f'crmsync_heartbeat_age_seconds{I}', "{{instance}}")],
     gp(12, 1, 4, 4), unit="s", th=thresholds("green", 30, "yellow", 60, "red"), decimals=1,
     mappings=[{"type": "value", "options": {"-1": {"text": "none yet", "color": "text", "index": 0}}}])
stat("Slot wal_status",
     "crmsync_slot_wal_status: pg_replication_slots.wal_status of the pipeline's slot (the series at 1). "
     "unreserved: the source may remove WAL the slot needs at the next checkpoint; lost: the slot is unusable "
     "and the pipeline stops (exit 65).",
     [target(f'crmsync_slot_wal_status{I} == 1', "{{instance}} {{status}}", instant=True)],
     gp(16, 1, 4, 4), text_mode="name", color_mode="background", graph_mode="none", color=fixed("text"),
     overrides=[name_color("/ reserved$/", "green"), name_color("/ extended$/", "yellow"),
                name_color("/ unreserved$/", "orange"), name_color("/ lost$/", "red")],
     no_value="no slot reading")
stat("Retained WAL over limit",
     "crmsync_slot_retained_wal_over_limit: 1 while the slot retains more WAL on the source than "
     "source.max_retained_wal (default 8 GB; 0 disables the check).",
     [target(f'crmsync_slot_retained_wal_over_limit{I}', "{{instance}}")],
     gp(20, 1, 4, 4), color_mode="background", graph_mode="none", th=thresholds("green", 1, "red"),
     mappings=[{"type": "value", "options": {"0": {"text": "within limit", "color": "green", "index": 0},
                                             "1": {"text": "OVER LIMIT", "color": "red", "index": 1}}}])

ts("Lag (seconds)", "crmsync_lag_seconds per pipeline.",
   [target(f'crmsync_lag_seconds{I}', "{{instance}}")], gp(0, 5, 12, 8), unit="s",
   th=thresholds("green", 60, "red"))
ts("Lag (bytes)", "crmsync_lag_bytes per pipeline: source WAL not yet applied on the target.",
   [target(f'crmsync_lag_bytes{I}', "{{instance}}")], gp(12, 5, 12, 8), unit="bytes")

ts("Slot retained WAL vs limit",
   "crmsync_slot_retained_wal_bytes (current WAL - restart_lsn of the slot) and, on the right axis, "
   "crmsync_slot_retained_wal_over_limit (1 while past source.max_retained_wal). The limit itself is not "
   "exported as a metric; it is source.max_retained_wal in the pipeline's configuration (default 8 GB).",
   [target(f'crmsync_slot_retained_wal_bytes{I}', "{{instance}} retained", "A"),
    target(f'crmsync_slot_retained_wal_over_limit{I}', "{{instance}} over limit", "B")],
   gp(0, 13, 12, 8), unit="bytes",
   overrides=[{"matcher": {"id": "byFrameRefID", "options": "B"},
               "properties": [{"id": "unit", "value": "none"}, {"id": "min", "value": 0},
                              {"id": "max", "value": 1}, {"id": "decimals", "value": 0},
                              {"id": "custom.axisPlacement", "value": "right"},
                              {"id": "custom.axisLabel", "value": "over limit"},
                              {"id": "custom.lineInterpolation", "value": "stepAfter"},
                              {"id": "custom.fillOpacity", "value": 0},
                              {"id": "color", "value": fixed("red")}]}])
ts("Slot safe_wal_size",
   "crmsync_slot_safe_wal_size_bytes: WAL the source can still write before the slot is in danger of being "
   "lost (pg_replication_slots.safe_wal_size); -1 when unlimited (max_slot_wal_keep_size = -1).",
   [target(f'crmsync_slot_safe_wal_size_bytes{I}', "{{instance}}")], gp(12, 13, 12, 8), unit="bytes",
   minimum=None, mappings=[{"type": "value", "options": {"-1": {"text": "unlimited", "index": 0}}}])

ts("Heartbeat age",
   "crmsync_heartbeat_age_seconds per pipeline; -1 until a first heartbeat arrives (or heartbeats are off).",
   [target(f'crmsync_heartbeat_age_seconds{I}', "{{instance}}")], gp(0, 21, 12, 8), unit="s", minimum=None,
   th=thresholds("green", 60, "red"))
ts("WAL positions behind the source",
   "Source WAL position (crmsync_source_wal_lsn_bytes) minus the position the stream last reported "
   "(crmsync_received_lsn_bytes), committed on the target (crmsync_applied_lsn_bytes) and confirmed to the "
   "source (crmsync_confirmed_lsn_bytes).",
   [target(f'crmsync_source_wal_lsn_bytes{I} - crmsync_received_lsn_bytes{I}', "{{instance}} received", "A"),
    target(f'crmsync_source_wal_lsn_bytes{I} - crmsync_applied_lsn_bytes{I}', "{{instance}} applied", "B"),
    target(f'crmsync_source_wal_lsn_bytes{I} - crmsync_confirmed_lsn_bytes{I}', "{{instance}} confirmed", "C")],
   gp(12, 21, 12, 8), unit="bytes", minimum=None)

# ---------------------------------------------------------------- Throughput
row("Throughput", 29)
ts("Changes applied by table and operation",
   "rate(crmsync_changes_applied_total): row changes applied to the target per second, by source table and "
   "operation (insert, update, delete).",
   [target(f'sum by (instance, table, op) (rate(crmsync_changes_applied_total{I}[{RI}]))',
           "{{table}} {{op}} ({{instance}})")],
   gp(0, 30, 12, 8), unit="ops", stack=True)
ts("Source transactions and target commits",
   "rate(crmsync_source_transactions_total) and rate(crmsync_target_commits_total): consecutive source "
   "transactions are grouped into one target transaction, so commits/s is at most transactions/s.",
   [target(f'sum by (instance) (rate(crmsync_source_transactions_total{I}[{RI}]))',
           "{{instance}} source transactions/s", "A"),
    target(f'sum by (instance) (rate(crmsync_target_commits_total{I}[{RI}]))',
           "{{instance}} target commits/s", "B")],
   gp(12, 30, 12, 8), unit="ops")


def quantiles(metric, by=""):
    grp = f"instance, {by + ', ' if by else ''}le"
    lbl = "{{instance}} " + ("{{" + by + "}} " if by else "")
    return [target(f'histogram_quantile({q}, sum by ({grp}) (rate({metric}_bucket{I}[{RI}])))',
                   f"{lbl}p{int(q * 100)}", ref)
            for q, ref in ((0.5, "A"), (0.99, "B"))]


def mean(metric, ref):
    return target(f'sum by (instance) (rate({metric}_sum{I}[{RI}])) / '
                  f'sum by (instance) (rate({metric}_count{I}[{RI}]))', "{{instance}} mean", ref)


ts("Batch size (source transactions per target commit)",
   "crmsync_batch_transactions histogram: p50, p99 and mean over the rate interval.",
   quantiles("crmsync_batch_transactions") + [mean("crmsync_batch_transactions", "C")],
   gp(0, 38, 12, 8), unit="short", decimals=1)
ts("Batch apply latency",
   "crmsync_batch_apply_seconds histogram: time from a batch's first change to its target commit; p50, p99 and "
   "mean over the rate interval.",
   quantiles("crmsync_batch_apply_seconds") + [mean("crmsync_batch_apply_seconds", "C")],
   gp(12, 38, 12, 8), unit="s")
for i, (q, name) in enumerate(((0.5, "p50"), (0.99, "p99"))):
    ts(f"Transaction lag by stage ({name})",
       "crmsync_transaction_lag_seconds histogram, per source transaction, by stage: to_crmsync (source commit to "
       "decoded here), queued, applying (to the target commit), total.",
       [target(f'histogram_quantile({q}, sum by (instance, stage, le) '
               f'(rate(crmsync_transaction_lag_seconds_bucket{I}[{RI}])))', "{{instance}} {{stage}}")],
       gp(12 * i, 46, 12, 8), unit="s")

# ---------------------------------------------------------------- Copy
row("Copy", 54)
bargauge("Copy progress: rows done / total",
         "crmsync_copy_rows_done / crmsync_copy_rows_total by table. Until a table is done its total is the "
         "planner's estimate (reltuples, never below the rows done), so the ratio is approximate; a table whose "
         "total is 0 (empty, or an estimate of 0) reads 100% rather than NaN.",
         [target(f'crmsync_copy_rows_done{I} / (crmsync_copy_rows_total{I} > 0) '
                 f'or (crmsync_copy_rows_total{I} == bool 0)',
                 "{{table}} ({{instance}})", instant=True)],
         gp(0, 55, 12, 10))
bargauge("Copy progress: chunks done / total",
         "crmsync_copy_chunks_done / crmsync_copy_chunks_total by table (exact; a restarted copy never redoes a "
         "finished chunk); a table with no chunks reads 100%.",
         [target(f'crmsync_copy_chunks_done{I} / (crmsync_copy_chunks_total{I} > 0) '
                 f'or (crmsync_copy_chunks_total{I} == bool 0)',
                 "{{table}} ({{instance}})", instant=True)],
         gp(12, 55, 12, 10))
panels.append({
    "type": "table", "id": nid(), "title": "Copy by table", "datasource": DS, "gridPos": gp(0, 65, 24, 8),
    "description": "crmsync_copy_rows_done, crmsync_copy_rows_total, crmsync_copy_chunks_done and "
                   "crmsync_copy_chunks_total by table, as last scraped.",
    "fieldConfig": {"defaults": {"unit": "short", "custom": {"align": "auto", "cellOptions": {"type": "auto"}},
                                 "mappings": [], "thresholds": thresholds("green"), "color": {"mode": "thresholds"}},
                    "overrides": []},
    "options": {"showHeader": True, "cellHeight": "sm", "footer": {"show": False, "reducer": ["sum"], "fields": ""},
                "sortBy": [{"displayName": "table", "desc": False}]},
    "targets": [target(f'crmsync_copy_rows_done{I}', ref="A", instant=True, fmt="table"),
                target(f'crmsync_copy_rows_total{I}', ref="B", instant=True, fmt="table"),
                target(f'crmsync_copy_chunks_done{I}', ref="C", instant=True, fmt="table"),
                target(f'crmsync_copy_chunks_total{I}', ref="D", instant=True, fmt="table")],
    "transformations": [
        {"id": "merge", "options": {}},
        {"id": "organize", "options": {
            "excludeByName": {"Time": True, "job": True, "__name__": True},
            "indexByName": {"instance": 0, "table": 1, "Value #A": 2, "Value #B": 3, "Value #C": 4, "Value #D": 5},
            "renameByName": {"Value #A": "rows done", "Value #B": "rows total (estimate until done)",
                             "Value #C": "chunks done", "Value #D": "chunks total"}}}],
})

# ---------------------------------------------------------------- Errors
row("Errors", 73)
ts("Dead letters by table",
   "crmsync_dead_letters: rows waiting in the target's crmsync.dead_letters, by source table (counted by the "
   "monitor while streaming). See crmsync dlq list / retry / drop.",
   [target(f'sum by (instance, table) (crmsync_dead_letters{I})', "{{table}} ({{instance}})")],
   gp(0, 74, 8, 8), unit="short", stack=True, decimals=0)
ts("Reconnects by side (increase over 5m)",
   "increase(crmsync_reconnects_total[5m]) by side (source, target): connections re-established after a loss.",
   [target(f'sum by (instance, side) (increase(crmsync_reconnects_total{I}[5m]))', "{{instance}} {{side}}")],
   gp(8, 74, 8, 8), unit="short", draw="bars", fill=60)
ts("Errors by kind (increase over 5m)",
   "increase(crmsync_errors_total[5m]) by kind (e.g. retryable, permanent, target, slot_lost).",
   [target(f'sum by (instance, kind) (increase(crmsync_errors_total{I}[5m]))', "{{instance}} {{kind}}")],
   gp(16, 74, 8, 8), unit="short", draw="bars", fill=60)

dashboard = {
    "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                              "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                              "name": "Annotations & Alerts", "type": "dashboard"}]},
    "description": "crmsync (PostgreSQL CDC pipeline) Prometheus metrics: phase, lag, slot WAL, throughput, "
                   "copy progress, dead letters and errors. One scrape target per pipeline.",
    "editable": True,
    "fiscalYearStartMonth": 0,
    "graphTooltip": 1,
    "id": None,
    "links": [],
    "liveNow": False,
    "panels": panels,
    "refresh": "30s",
    "schemaVersion": 38,
    "style": "dark",
    "tags": ["crmsync", "postgresql", "cdc"],
    "templating": {"list": [
        {"name": "DS_PROMETHEUS", "label": "Data source", "type": "datasource", "query": "prometheus",
         "current": {}, "hide": 0, "includeAll": False, "multi": False, "options": [], "refresh": 1,
         "regex": "", "skipUrlSync": False},
        {"name": "instance", "label": "Pipeline (instance)", "type": "query", "datasource": DS,
         "definition": "label_values(crmsync_phase, instance)",
         "query": {"query": "label_values(crmsync_phase, instance)", "refId": "StandardVariableQuery"},
         "current": {}, "hide": 0, "includeAll": True, "multi": True, "options": [], "refresh": 2,
         "regex": "", "skipUrlSync": False, "sort": 1},
    ]},
    "time": {"from": "now-6h", "to": "now"},
    "timepicker": {},
    "timezone": "",
    "title": "crmsync",
    "uid": "crmsync",
    "version": 1,
    "weekStart": "",
}

with open("contrib/grafana/crmsync.json", "w") as f:
    json.dump(dashboard, f, indent=2)
    f.write("\n")
