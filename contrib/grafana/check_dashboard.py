#!/usr/bin/env python3
"""Check contrib/grafana/crmsync.json and contrib/prometheus/crmsync-alerts.yml against the daemon's
metrics.

The metric families (name and type) are read from telemetry/metrics.cpp; the labels of each family
from the places that add a labelled child (`<member>.Add({{"label", ...}})`, or `.Add(l)` with
`prometheus::Labels l{{...}}` in the same file) in the daemon's sources, cross-checked with the
`// {label, ...}` comments in telemetry/metrics.hpp. Then, for every PromQL expression:

- every metric name is a family (a histogram only as <name>_bucket/_sum/_count, `le` only on
  _bucket); rate/irate/increase only over counters or histogram series, delta/deriv only over
  gauges;
- every label in a matcher, in by/without/on/ignoring/group_left/group_right, in a legendFormat
  `{{label}}` or an alert annotation's `$labels.label` exists on the families it applies to
  (instance and job are always allowed, le on histogram buckets); a literal label value (other
  than for instance/job) appears as a string literal in the daemon's sources;
- dashboard only: every selector has instance=~"$instance"; panel ids are unique; gridPos
  rectangles do not overlap; the datasource is ${DS_PROMETHEUS}; the template variables asked
  for exist.

Usage: python3 contrib/grafana/check_dashboard.py   (from anywhere; exits 1 on any failure)
Needs Python 3 and PyYAML (python3-yaml) for the rules file.
"""

import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "contrib/grafana/crmsync.json"
ALERTS = ROOT / "contrib/prometheus/crmsync-alerts.yml"
SOURCE_DIRS = ("telemetry", "daemon", "cdc", "sink", "core", "checkpoint", "pq", "mapping", "config")

ALWAYS = {"instance", "job"}
HIST_SUFFIXES = ("_bucket", "_sum", "_count")
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
            "offset", "inf", "nan", "atan2", "start", "end"}
GROUPING = ("by", "without", "on", "ignoring", "group_left", "group_right")
COUNTER_FUNCS = {"rate", "irate", "increase", "resets"}
GAUGE_FUNCS = {"delta", "deriv", "idelta", "predict_linear"}

errors = []
notes = []


def fail(where, msg):
    errors.append(f"{where}: {msg}")


# ------------------------------------------------------------------ what the daemon exports

def read_families():
    cpp = (ROOT / "telemetry/metrics.cpp").read_text()
    hpp = (ROOT / "telemetry/metrics.hpp").read_text()
    fams = {}  # name -> {"type", "member", "labels": set, "unlabelled": bool}
    by_member = {}
    pattern = re.compile(r'(\w+)\(\s*family\(prometheus::Build(Gauge|Counter|Histogram)\(\),\s*"([a-zA-Z_:][\w:]*)"')
    starts = [(m.start(), m) for m in pattern.finditer(cpp)]
    for i, (pos, m) in enumerate(starts):
        member, kind, name = m.group(1), m.group(2).lower(), m.group(3)
        end = starts[i + 1][0] if i + 1 < len(starts) else len(cpp)
        unlabelled = ".Add({}" in cpp[pos:end]
        fams[name] = {"type": kind, "member": member, "labels": set(), "unlabelled": unlabelled, "values": {}}
        by_member[member] = name
    if not fams:
        fail("telemetry/metrics.cpp", "no metric families found (has the registration code changed?)")

    # Labels from the call sites that add labelled children.
    files = [p for d in SOURCE_DIRS for p in (ROOT / d).rglob("*.[ch]pp")]
    literals = set()
    add_re = re.compile(r"\.(\w+)\.Add\(\s*(\{\{.*?\}\}|\w+)", re.S)
    pair_re = re.compile(r'\{\s*"(\w+)"\s*,\s*("([^"]*)"|[^}]*)\}')
    for path in files:
        text = path.read_text(errors="replace")
        literals.update(re.findall(r'"([^"\\]*)"', text))
        for m in add_re.finditer(text):
            member, arg = m.group(1), m.group(2)
            if member not in by_member:
                continue
            if not arg.startswith("{"):
                decl = re.search(r"Labels\s+" + re.escape(arg) + r"\s*(?:=\s*)?\{(\{.*?\})\s*\}", text, re.S)
                if not decl:
                    fail(str(path.relative_to(ROOT)), f"cannot find the labels of {member}.Add({arg})")
                    continue
                arg = "{" + decl.group(1) + "}"
            fam = fams[by_member[member]]
            for p in pair_re.finditer(arg[1:-1]):
                fam["labels"].add(p.group(1))
                if p.group(3) is not None:
                    fam["values"].setdefault(p.group(1), set()).add(p.group(3))

    # Cross-check with the header's comments.
    for m in re.finditer(r"&\s*(\w+);\s*//\s*\{([\w, ]+)\}", hpp):
        member, labels = m.group(1), {x.strip() for x in m.group(2).split(",")}
        if member in by_member and labels != fams[by_member[member]]["labels"]:
            fail("telemetry/metrics.hpp", f"{member}: comment says {sorted(labels)}, call sites add "
                                          f"{sorted(fams[by_member[member]]['labels'])}")
    for name, fam in fams.items():
        if not fam["unlabelled"] and not fam["labels"]:
            fail("telemetry/metrics.cpp", f"{name}: a labelled family with no call site adding a child")
    return fams, literals


FAMILIES, LITERALS = read_families()


def resolve(name):
    """(family name, family, series suffix) of a series name, or None."""
    if name in FAMILIES:
        # A histogram's own name is no series: only its _bucket, _sum and _count are.
        return (name, FAMILIES[name], "") if FAMILIES[name]["type"] != "histogram" else None
    for suffix in HIST_SUFFIXES:
        base = name[: -len(suffix)]
        if name.endswith(suffix) and base in FAMILIES and FAMILIES[base]["type"] == "histogram":
            return base, FAMILIES[base], suffix
    return None


def labels_of(name):
    r = resolve(name)
    if r is None:
        return set()
    _, fam, suffix = r
    return fam["labels"] | ALWAYS | ({"le"} if suffix == "_bucket" else set())


# ------------------------------------------------------------------ PromQL

STRING = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\''
MATCHER = re.compile(r'([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*(' + STRING + ")")


def blank(s, start, end):
    return s[:start] + " " * (end - start) + s[end:]


def balanced(s, open_pos):
    """Index just past the parenthesis group opening at open_pos."""
    depth = 0
    for i in range(open_pos, len(s)):
        if s[i] == "(":
            depth += 1
        elif s[i] == ")":
            depth -= 1
            if depth == 0:
                return i + 1
    raise ValueError("unbalanced parentheses")


def balanced_back(s, close_pos):
    """Index of the parenthesis opening the group that closes at close_pos."""
    depth = 0
    for i in range(close_pos, -1, -1):
        if s[i] == ")":
            depth += 1
        elif s[i] == "(":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError("unbalanced parentheses")


def check_expr(where, expr, dashboard, legend_labels=()):
    """Check one expression; returns the metric names it uses."""
    # 1. Selectors {...} with their matchers, then blank them (and ranges [...]) out, keeping
    #    positions, so that what is left is names, functions, operators and grouping clauses.
    work = expr
    selectors = []  # (position, name or "", [(label, op, value)])
    for m in re.finditer(r"([a-zA-Z_:][\w:]*)?\s*\{((?:" + STRING + r"|[^}\"'])*)\}", expr):
        matchers = [(a, op, v[1:-1]) for a, op, v in MATCHER.findall(m.group(2))]
        selectors.append((m.start(), m.group(1) or "", matchers))
        work = blank(work, m.start(2) - 1, m.end())
    work = re.sub(r"\[[^\]]*\]", lambda m: " " * len(m.group(0)), work)
    work = re.sub(STRING, lambda m: " " * len(m.group(0)), work)

    # 2. Grouping clauses.
    groupings = []  # (keyword, labels, start, end)
    for m in re.finditer(r"\b(" + "|".join(GROUPING) + r")\s*\(([^()]*)\)", work):
        labels = [x.strip() for x in m.group(2).split(",") if x.strip()]
        groupings.append((m.group(1), labels, m.start(), m.end()))
    clean = work
    for _, _, s, e in groupings:
        clean = blank(clean, s, e)

    # 3. Names: identifiers that are not functions or keywords are metric names.
    names = []  # (position, name)
    for m in re.finditer(r"(?<![\w:.$])([a-zA-Z_:][\w:]*)", clean):
        ident = m.group(1)
        after = clean[m.end():].lstrip()
        if after.startswith("("):
            continue  # a function or aggregation
        if ident.lower() in KEYWORDS:
            continue
        names.append((m.start(), ident))
    used = []
    for pos, name in names:
        if resolve(name) is None:
            if name in FAMILIES:  # a histogram
                fail(where, f"{name} is a histogram: use {name}_bucket, _sum or _count")
            else:
                fail(where, f"unknown metric {name!r} (not a family in telemetry/metrics.cpp)")
            continue
        used.append(name)
    for pos, name, _ in selectors:
        if not name:
            fail(where, "a selector without a metric name")

    # 4. Matchers.
    for pos, name, matchers in selectors:
        if not name or resolve(name) is None:
            continue
        allowed = labels_of(name)
        for label, op, value in matchers:
            if label not in allowed:
                fail(where, f"{name} has no label {label!r} (has {sorted(allowed - ALWAYS)})")
            elif label not in ALWAYS and label != "le" and "$" not in value:
                alternatives = value.split("|") if op in ("=~", "!~") else [value]
                for v in alternatives:
                    if not re.fullmatch(r"[\w.:-]*", v):
                        notes.append(f"{where}: {name}{{{label}{op}\"{value}\"}}: regex not value-checked")
                    elif v not in LITERALS:
                        fail(where, f"{name}{{{label}=\"{v}\"}}: {v!r} never appears as a string literal "
                                    f"in the daemon's sources")
        if dashboard:
            inst = [m for m in matchers if m[0] == "instance"]
            if inst != [("instance", "=~", "$instance")]:
                fail(where, f'{name}: the selector must have instance=~"$instance"')
    if dashboard:
        for pos, name in names:
            if not any(p <= pos < p + len(n) for p, n, _ in selectors if n == name):
                fail(where, f'{name}: has no {{instance=~"$instance"}} selector')

    # 5. Grouping labels against the families in scope.
    for kw, labels, start, end in groupings:
        if kw in ("by", "without"):
            rest = work[end:].lstrip()
            if rest.startswith("("):  # sum by (x) (expr)
                open_pos = end + (len(work[end:]) - len(rest))
                scope = (open_pos, balanced(work, open_pos))
            else:  # sum (expr) by (x)
                close = work.rstrip()[:start].rstrip()
                close_pos = len(close) - 1
                scope = (balanced_back(work, close_pos), close_pos + 1)
        else:
            scope = (0, len(expr))
        in_scope = [n for p, n in names if scope[0] <= p < scope[1] and resolve(n)]
        if not in_scope:
            fail(where, f"{kw} ({', '.join(labels)}): no metric in its scope")
        for label in labels:
            for n in in_scope:
                if label not in labels_of(n):
                    fail(where, f"{kw} ({label}): {n} has no label {label!r}")

    # 6. Counter functions over counters, gauge functions over gauges.
    for m in re.finditer(r"\b(\w+)\(\s*([a-zA-Z_:][\w:]*)", clean):
        fn, arg = m.group(1), m.group(2)
        r = resolve(arg)
        if r is None:
            continue
        kind = r[1]["type"] if not r[2] else "counter"  # histogram series are counters
        if fn in COUNTER_FUNCS and kind != "counter":
            fail(where, f"{fn}() over {arg}, a {kind}")
        if fn in GAUGE_FUNCS and kind != "gauge":
            fail(where, f"{fn}() over {arg}, a {kind}")

    # 7. Labels a legend or annotation refers to.
    available = set().union(*(labels_of(n) for n in used)) if used else set(ALWAYS)
    for label in legend_labels:
        if label not in available:
            fail(where, f"legend/annotation label {label!r} is on none of {sorted(set(used))}")
    return used


# ------------------------------------------------------------------ the dashboard

def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def check_dashboard(d=None):
    where = str(DASHBOARD.relative_to(ROOT))
    if d is None:
        d = json.loads(DASHBOARD.read_text())
    if d.get("title") != "crmsync" or d.get("uid") != "crmsync":
        fail(where, "title and uid must be crmsync")
    if d.get("schemaVersion") != 38:
        fail(where, f"schemaVersion is {d.get('schemaVersion')}, not 38")
    variables = {v["name"]: v for v in d.get("templating", {}).get("list", [])}
    ds = variables.get("DS_PROMETHEUS")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        fail(where, "no datasource variable DS_PROMETHEUS (type datasource, query prometheus)")
    inst = variables.get("instance")
    q = inst and (inst["query"]["query"] if isinstance(inst["query"], dict) else inst["query"])
    if not inst or q != "label_values(crmsync_phase, instance)" or not inst.get("multi") \
            or not inst.get("includeAll"):
        fail(where, "variable instance must be label_values(crmsync_phase, instance), multi, include All")
    else:
        check_expr(where + " variable instance", "crmsync_phase", False)

    ids, rects, used = set(), [], set()
    for p in walk_panels(d["panels"]):
        pw = f"{where} panel {p.get('id')} {p.get('title')!r}"
        if p.get("id") in ids:
            fail(pw, "duplicate panel id")
        ids.add(p.get("id"))
        g = p["gridPos"]
        if g["x"] < 0 or g["x"] + g["w"] > 24:
            fail(pw, "gridPos outside the 24 columns")
        for other, og in rects:
            if g["x"] < og["x"] + og["w"] and og["x"] < g["x"] + g["w"] and \
                    g["y"] < og["y"] + og["h"] and og["y"] < g["y"] + g["h"]:
                fail(pw, f"gridPos overlaps panel {other}")
        rects.append((p.get("id"), g))
        if p["type"] == "row":
            continue
        if p.get("datasource", {}).get("uid") != "${DS_PROMETHEUS}":
            fail(pw, "datasource is not ${DS_PROMETHEUS}")
        if not p.get("targets"):
            fail(pw, "no targets")
        for t in p.get("targets", []):
            tw = f"{pw} target {t.get('refId')}"
            if t.get("datasource", {}).get("uid") != "${DS_PROMETHEUS}":
                fail(tw, "datasource is not ${DS_PROMETHEUS}")
            legend = re.findall(r"\{\{\s*(\w+)\s*\}\}", t.get("legendFormat", ""))
            used.update(check_expr(tw, t["expr"], True, legend))
    return sorted(used)


# ------------------------------------------------------------------ the rules file

def check_alerts():
    import yaml  # python3-yaml

    where = str(ALERTS.relative_to(ROOT))
    doc = yaml.safe_load(ALERTS.read_text())
    used, names = set(), set()
    for group in doc["groups"]:
        for rule in group["rules"]:
            name = rule.get("alert") or rule.get("record")
            rw = f"{where} {name}"
            if name in names:
                fail(rw, "duplicate rule name")
            names.add(name)
            for key in ("expr", "for", "labels", "annotations"):
                if key not in rule:
                    fail(rw, f"no {key}")
            if not re.fullmatch(r"\d+[smhdwy]", str(rule.get("for", ""))):
                fail(rw, f"bad for: {rule.get('for')!r}")
            if rule.get("labels", {}).get("severity") not in ("info", "warning", "critical"):
                fail(rw, "labels.severity must be info, warning or critical")
            if "$" in rule["expr"]:
                fail(rw, "a Grafana variable in a Prometheus expression")
            text = " ".join(str(v) for v in rule.get("annotations", {}).values())
            refs = re.findall(r"\$labels\.(\w+)", text)
            used.update(check_expr(rw, rule["expr"], False, refs))
    return sorted(used), sorted(names)


def main():
    print("families in telemetry/metrics.cpp:")
    for name, fam in sorted(FAMILIES.items()):
        labels = ", ".join(sorted(fam["labels"])) or "-"
        print(f"  {name:44} {fam['type']:9} labels: {labels}")
    dash = check_dashboard()
    alerts, rules = check_alerts()
    dash_fams = sorted({resolve(n)[0] for n in dash})
    print(f"\ndashboard: {len(dash)} series names from {len(dash_fams)} families:")
    for n in dash:
        print("  " + n)
    unused = sorted(set(FAMILIES) - set(dash_fams))
    print(f"families the dashboard does not use: {', '.join(unused) or 'none'}")
    print(f"\nalerts: {len(rules)} rules ({', '.join(rules)}) over: {', '.join(alerts)}")
    for n in notes:
        print("note: " + n)
    if errors:
        print(f"\nFAIL: {len(errors)} problem(s)")
        for e in errors:
            print("  " + e)
        return 1
    print("\nOK: every metric name and label used exists in telemetry/metrics.cpp")
    return 0


if __name__ == "__main__":
    sys.exit(main())
