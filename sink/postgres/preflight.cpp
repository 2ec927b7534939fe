#include "sink/postgres/preflight.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>
#include <optional>

#include "pq/catalog.hpp"
#include "pq/connection.hpp"

namespace crmsync::sink::postgres {
namespace {

CheckItem item(std::string name, CheckStatus status, std::string detail) {
  return CheckItem{"target", std::move(name), status, std::move(detail)};
}

// Returns the privileges (of INSERT, UPDATE, DELETE) the current user lacks on the table.
Result<std::vector<std::string>> missing_privileges(pq::Connection& conn, const std::string& qualified) {
  auto res = conn.exec_params(
      "SELECT has_table_privilege($1, 'INSERT'), has_table_privilege($1, 'UPDATE'), "
      "has_table_privilege($1, 'DELETE')",
      {qualified});
  if (!res) {
    return res.take_error();
  }
  std::vector<std::string> missing;
  const char* names[] = {"INSERT", "UPDATE", "DELETE"};
  for (int i = 0; i < 3; ++i) {
    if (res->get(0, i) != "t") {
      missing.emplace_back(names[i]);
    }
  }
  return missing;
}

// A type change every value survives unchanged: a wider integer, or text without a length limit.
bool widens(const std::string& from, const std::string& to) {
  if (to == "numeric") return from == "smallint" || from == "integer" || from == "bigint";
  if (to == "bigint") return from == "smallint" || from == "integer";
  if (to == "integer") return from == "smallint";
  if (to == "text") return from.rfind("character varying", 0) == 0;
  return false;
}

// The target's side of a column, for the fit check.
struct TargetType {
  std::string category;               // pg_type.typcategory of the type (of a domain's base type)
  std::string name;                   // the base type's name: "date", "timestamp with time zone", ...
  std::string formatted;              // format_type() with the modifier, for messages and casts
  std::optional<std::int64_t> chars;  // character varying(n) / character(n): n
};

// The category a `cast` type gives its values (pg_type.typcategory).
std::string cast_category(const std::string& type) {
  if (type == "text") return "S";
  if (type == "boolean") return "B";
  if (type == "date" || type == "timestamp") return "D";
  if (type == "uuid") return "U";
  return "N";  // integer, bigint, smallint, numeric
}

// The n of "character varying(n)" or "character(n)"; nullopt for anything unbounded.
std::optional<std::int64_t> declared_chars(const std::string& type) {
  for (const char* prefix : {"character varying(", "character("}) {
    const std::string p = prefix;
    if (type.rfind(p, 0) == 0 && type.back() == ')') {
      try {
        return std::stoll(type.substr(p.size(), type.size() - p.size() - 1));
      } catch (const std::exception&) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

// Whether the values a mapping's rules produce fit each target column's type: `unfit` can never
// be written (the first row would stop the pipeline), `unbounded` may be too long for a varchar.
// `covered`: columns whose fit this check decided, so that "types differ" need not note them.
Status check_fit(pq::Connection& conn, const ExpectedTable& want, std::vector<std::string>& unfit,
                 std::vector<std::string>& unbounded, std::vector<std::string>& covered) {
  auto res = conn.exec_params(
      "SELECT a.attname, b.typcategory, format_type(b.oid, NULL), format_type(a.atttypid, a.atttypmod), CASE WHEN "
      "b.oid IN ('varchar'::regtype, 'bpchar'::regtype) AND CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE "
      "a.atttypmod END > 4 THEN CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END - 4 END FROM "
      "pg_attribute a JOIN pg_type t ON t.oid = a.atttypid JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN "
      "t.typbasetype ELSE t.oid END WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
      {pq::quote_qualified(want.schema, want.name)});
  if (!res) return res.take_error();
  std::map<std::string, TargetType> types;
  for (int r = 0; r < res->rows(); ++r) {
    TargetType t{std::string(res->get(r, 1)), std::string(res->get(r, 2)), std::string(res->get(r, 3)), std::nullopt};
    if (!res->is_null(r, 4)) t.chars = std::stoll(std::string(res->get(r, 4)));
    types.emplace(std::string(res->get(r, 0)), std::move(t));
  }
  for (const auto& col : want.columns) {
    const auto found = types.find(col.name);
    if (!col.shape || found == types.end()) continue;
    const auto& shape = *col.shape;
    const auto& t = found->second;
    const bool text = t.category == "S";
    std::string wrong;
    switch (shape.produces) {
      case Produces::Text:
        if (!text) wrong = fmt::format("{} gives text", shape.produced_by);
        break;
      case Produces::Date:
        if (!text && t.name != "date" && t.name.rfind("timestamp", 0) != 0) wrong = "date_format gives a date";
        break;
      case Produces::Timestamp:
        if (!text && t.name.rfind("timestamp", 0) != 0)
          wrong = t.name == "date" ? "date_format gives a date and time, and a date column drops the time"
                                   : "date_format gives a date and time";
        break;
      case Produces::Cast:
        if (!text && cast_category(shape.cast_type) != t.category)
          wrong = fmt::format("cast gives a {} value", shape.cast_type);
        break;
      case Produces::SourceValue:
      case Produces::Literal:
      case Produces::Lookup: break;
    }
    if (shape.produces != Produces::SourceValue ||
        (t.chars && shape.max_chars && *shape.max_chars <= *t.chars && shape.literals.empty())) {
      covered.push_back(col.name);
    }
    if (!wrong.empty()) {
      unfit.push_back(fmt::format("{} ({}, the column is {})", col.name, wrong, t.formatted));
      continue;
    }
    for (const auto& literal : shape.literals) {
      // The target's own input function decides (an enum's labels, a date's forms); the length
      // separately, because a cast to character varying(n) cuts instead of refusing.
      auto parsed = conn.exec_params(
          fmt::format("SELECT CAST($1::text AS {}) IS NOT NULL, char_length($1)", t.formatted), {literal});
      if (!parsed) {
        unfit.push_back(
            fmt::format("{} (the value '{}' from {} is not a {})", col.name, literal, shape.produced_by, t.formatted));
        break;
      }
      if (t.chars && std::stoll(std::string(parsed->get(0, 1))) > *t.chars) {
        unfit.push_back(fmt::format("{} (the value '{}' from {} is longer than {} characters)", col.name, literal,
                                    shape.produced_by, *t.chars));
        break;
      }
    }
    if (!t.chars || !text || shape.produces == Produces::Literal || shape.produces == Produces::Lookup) continue;
    auto longest = shape.max_chars;
    if (!longest && shape.produces == Produces::SourceValue) longest = declared_chars(col.source_type);
    if (!longest || *longest > *t.chars) {
      covered.push_back(col.name);
      unbounded.push_back(
          fmt::format("{} ({}: a longer value stops the pipeline; add {{truncate: {}}} or validate "
                      "{{max_length: {}}})",
                      col.name, t.formatted, *t.chars, *t.chars));
    }
  }
  return {};
}

void check_table(pq::Connection& conn, const ExpectedTable& want, CheckReport& out) {
  const auto label = fmt::format("table {}.{}", want.schema, want.name);
  auto info = pq::read_table(conn, want.schema, want.name);
  if (!info) {
    out.push_back(item(label, CheckStatus::Fail, fmt::format("could not check: {}", info.error().message)));
    return;
  }
  if (!info->has_value()) {
    if (want.may_create) {
      out.push_back(item(label, CheckStatus::Ok, "does not exist; will be created (target.create_tables)"));
      return;
    }
    out.push_back(item(label, CheckStatus::Fail,
                       "does not exist on the target: create it (the new CRM owns its schema), or set "
                       "target.create_tables: true for an identity mapping"));
    return;
  }
  const TableInfo& have = **info;
  std::vector<std::string> missing;
  std::vector<std::string> retyped;
  for (const auto& col : want.columns) {
    const auto* found = have.column(col.name);
    if (found == nullptr) {
      missing.push_back(col.name);
    } else if (found->generated) {
      missing.push_back(col.name + " (generated on the target, cannot be written)");
    } else if (!col.source_type.empty() && found->type != col.source_type && !widens(col.source_type, found->type)) {
      retyped.push_back(fmt::format("{} ({} -> {})", col.name, col.source_type, found->type));
    }
  }
  if (!missing.empty()) {
    out.push_back(item(label, CheckStatus::Fail, fmt::format("missing columns: {}", fmt::join(missing, ", "))));
    return;
  }
  std::vector<std::string> unfit;
  std::vector<std::string> unbounded;
  std::vector<std::string> covered;
  if (auto fit = check_fit(conn, want, unfit, unbounded, covered); !fit) {
    out.push_back(item(label, CheckStatus::Fail, fmt::format("could not check: {}", fit.error().message)));
    return;
  }
  if (!unfit.empty()) {
    out.push_back(item(label, CheckStatus::Fail,
                       fmt::format("types do not fit after the transforms: {}", fmt::join(unfit, "; "))));
    return;
  }
  // A NOT NULL column without a default that nothing writes: every insert would fail (23502).
  std::vector<std::string> unfilled;
  std::vector<std::string> notes;
  for (const auto& c : have.columns) {
    const bool written = std::any_of(want.columns.begin(), want.columns.end(),
                                     [&](const ExpectedColumn& w) { return w.name == c.name; });
    if (!written && !c.may_be_omitted()) unfilled.push_back(c.name);
    if (written && c.identity == IdentityKind::Always) {
      notes.push_back(
          fmt::format("identity column {} (GENERATED ALWAYS) is written with OVERRIDING SYSTEM VALUE; "
                      "sync its sequence at cutover",
                      c.name));
    }
  }
  if (!unfilled.empty()) {
    out.push_back(item(label, CheckStatus::Fail,
                       fmt::format("NOT NULL column(s) without a default that the mapping leaves empty: {}; map a "
                                   "source column to them or give them a DEFAULT",
                                   fmt::join(unfilled, ", "))));
    return;
  }
  if (have.kind == TableKind::Partitioned) notes.emplace_back("partitioned: rows are routed to its partitions");
  if (!want.key.empty()) {
    // Updates and deletes find rows by the mapping's key: without a unique index on exactly it, two
    // legacy systems' rows could share a key (the apply stops when a statement changes two rows),
    // and every lookup by it is a scan.
    std::vector<std::string> sorted = want.key;
    std::sort(sorted.begin(), sorted.end());
    auto unique = conn.exec_params(
        "SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indpred "
        "IS NULL AND i.indexprs IS NULL AND (SELECT string_agg(a.attname, ',' ORDER BY a.attname) FROM pg_attribute a "
        "WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)) = $2)",
        {pq::quote_qualified(want.schema, want.name), fmt::format("{}", fmt::join(sorted, ","))});
    if (!unique) {
      out.push_back(item(label, CheckStatus::Fail, fmt::format("could not check: {}", unique.error().message)));
      return;
    }
    for (const auto& k : want.key) {
      if (have.column(k) == nullptr) {
        out.push_back(item(label, CheckStatus::Fail, fmt::format("key column {} does not exist", k)));
        return;
      }
    }
    if (unique->get(0, 0) != "t") {
      out.push_back(item(label, CheckStatus::Warn,
                         fmt::format("no unique index on the mapping's key ({}): rows of different legacy systems "
                                     "could share it, and updates and deletes find rows by it; CREATE UNIQUE INDEX "
                                     "ON {} ({})",
                                     fmt::join(want.key, ", "), pq::quote_qualified(want.schema, want.name),
                                     fmt::join(want.key, ", "))));
      return;
    }
    notes.push_back(fmt::format("rows found by the key ({})", fmt::join(want.key, ", ")));
  }
  auto lacking = missing_privileges(conn, pq::quote_qualified(want.schema, want.name));
  if (!lacking) {
    out.push_back(item(label, CheckStatus::Fail, fmt::format("could not check: {}", lacking.error().message)));
    return;
  }
  if (!lacking->empty()) {
    out.push_back(
        item(label, CheckStatus::Fail,
             fmt::format("missing privileges: {} (GRANT them to the crmsync role)", fmt::join(*lacking, ", "))));
    return;
  }
  std::erase_if(retyped, [&](const std::string& r) {
    return std::any_of(covered.begin(), covered.end(), [&](const std::string& c) { return r.rfind(c + " (", 0) == 0; });
  });
  if (!unbounded.empty() || !retyped.empty()) {
    std::vector<std::string> parts;
    if (!unbounded.empty())
      parts.push_back(fmt::format("values may be too long for the target: {}", fmt::join(unbounded, "; ")));
    if (!retyped.empty())
      parts.push_back(
          fmt::format("types differ, values are cast by the target on write: {}", fmt::join(retyped, ", ")));
    out.push_back(item(label, CheckStatus::Warn, fmt::format("{}", fmt::join(parts, "; "))));
    return;
  }
  out.push_back(item(
      label, CheckStatus::Ok,
      fmt::format("{} columns mapped{}{}", want.columns.size(), notes.empty() ? "" : "; ", fmt::join(notes, "; "))));
}

// Copy and apply sessions run with session_replication_role = replica: try it (and roll back), the
// only answer that covers superuser, a PG15 GRANT SET ON PARAMETER and whatever comes next.
void check_replica_role(pq::Connection& conn, const TargetOptions& options, CheckReport& out) {
  if (!options.replica_role) {
    out.push_back(item("replication role", CheckStatus::Warn,
                       "target.replication_role: origin: foreign keys and triggers fire for replicated rows; a "
                       "resumed copy with foreign keys between tables can fail (see config/README.md)"));
    return;
  }
  auto begun = conn.exec("BEGIN");
  if (!begun) {
    out.push_back(
        item("replication role", CheckStatus::Fail, fmt::format("could not check: {}", begun.error().message)));
    return;
  }
  auto set = conn.exec("SET LOCAL session_replication_role = replica");
  (void)conn.exec("ROLLBACK");
  if (!set) {
    out.push_back(item("replication role", CheckStatus::Fail,
                       fmt::format("cannot SET session_replication_role = replica ({}): {}", set.error().message,
                                   options.replica_role_advice)));
    return;
  }
  out.push_back(item("replication role", CheckStatus::Ok,
                     "session_replication_role = replica allowed (foreign keys and ordinary triggers do not fire "
                     "for replicated rows)"));
}

}  // namespace

namespace {

void check_lookup(pq::Connection& conn, const ExpectedLookup& l, CheckReport& out) {
  const auto label = fmt::format("lookup {}", l.used_by);
  const auto table = pq::quote_qualified(l.schema, l.table);
  auto res = conn.exec_params(
      "SELECT to_regclass($1) IS NOT NULL, "
      "EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped), "
      "EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $3 AND NOT attisdropped), "
      "EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
      "WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indnkeyatts = 1 AND i.indpred IS NULL AND "
      "i.indexprs IS NULL AND a.attname = $2)",
      {table, l.match, l.take});
  if (!res) {
    out.push_back(item(label, CheckStatus::Fail, fmt::format("could not check: {}", res.error().message)));
    return;
  }
  const auto where = fmt::format("{}.{}", l.schema, l.table);
  if (res->get(0, 0) != "t") {
    out.push_back(item(label, CheckStatus::Fail, fmt::format("lookup table {} does not exist on the target", where)));
  } else if (res->get(0, 1) != "t" || res->get(0, 2) != "t") {
    out.push_back(item(label, CheckStatus::Fail,
                       fmt::format("{} has no column {}", where, res->get(0, 1) != "t" ? l.match : l.take)));
  } else if (res->get(0, 3) != "t") {
    out.push_back(item(label, CheckStatus::Fail,
                       fmt::format("{}.{} is not unique (no unique index on it alone): a legacy key could match two "
                                   "parents. CREATE UNIQUE INDEX ON {} ({})",
                                   where, l.match, table, pq::quote_ident(l.match))));
  } else {
    out.push_back(item(label, CheckStatus::Ok,
                       fmt::format("{} of the {} row whose {} matches (unique)", l.take, where, l.match)));
  }
}

}  // namespace

CheckReport preflight_target(const TargetOptions& options, const std::vector<ExpectedTable>& tables,
                             const std::vector<ExpectedLookup>& lookups) {
  CheckReport out;
  auto conn = pq::Connection::connect(options.connection);
  if (!conn) {
    out.push_back(item("connect", CheckStatus::Fail, conn.error().message));
    return out;
  }
  const int v = conn->server_version();
  out.push_back(
      item("connect", CheckStatus::Ok, fmt::format("{}, PostgreSQL {}.{}", conn->description(), v / 10000, v % 10000)));
  check_replica_role(*conn, options, out);
  for (const auto& table : tables) {
    check_table(*conn, table, out);
  }
  for (const auto& l : lookups) check_lookup(*conn, l, out);
  return out;
}

}  // namespace crmsync::sink::postgres
