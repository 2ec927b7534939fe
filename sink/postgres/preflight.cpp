#include "sink/postgres/preflight.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

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
    } else if (!col.source_type.empty() && found->type != col.source_type) {
      retyped.push_back(fmt::format("{} ({} -> {})", col.name, col.source_type, found->type));
    }
  }
  if (!missing.empty()) {
    out.push_back(item(label, CheckStatus::Fail, fmt::format("missing columns: {}", fmt::join(missing, ", "))));
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
  if (!retyped.empty()) {
    out.push_back(
        item(label, CheckStatus::Warn,
             fmt::format("types differ, values are cast by the target on write: {}", fmt::join(retyped, ", "))));
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
