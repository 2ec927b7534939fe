#include "cdc/preflight.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "cdc/row_filter.hpp"
#include "pq/catalog.hpp"
#include "pq/connection.hpp"

namespace crmsync::cdc {
namespace {

constexpr int kMinServerVersion = 100000;  // pgoutput and publications arrived in PostgreSQL 10

CheckItem item(std::string name, CheckStatus status, std::string detail) {
  return CheckItem{"source", std::move(name), status, std::move(detail)};
}

CheckItem query_failed(std::string name, const Error& e) {
  return item(std::move(name), CheckStatus::Fail, fmt::format("could not check: {}", e.message));
}

std::string version_text(int v) {
  return fmt::format("{}.{}", v / 10000, v % 10000);
}

void check_wal_level(pq::Connection& conn, CheckReport& out) {
  auto level = pq::read_setting(conn, "wal_level");
  if (!level) {
    out.push_back(query_failed("wal_level", level.error()));
    return;
  }
  if (*level == "logical") {
    out.push_back(item("wal_level", CheckStatus::Ok, "logical"));
    return;
  }
  out.push_back(item("wal_level", CheckStatus::Fail,
                     fmt::format("wal_level is \"{}\"; logical decoding needs it to be \"logical\": run ALTER SYSTEM "
                                 "SET wal_level = logical and restart the source",
                                 *level)));
}

// How far the stream may fall behind before the source drops its slot, and what to set. A day's
// WAL at the average rate since the statistics were reset survives a day-long stall (a target
// outage, a stopped daemon); twice source.max_retained_wal makes crmsync's warning come first.
void check_slot_wal_keep_size(pq::Connection& conn, const config::PipelineConfig& cfg, CheckReport& out) {
  constexpr const char* kName = "max_slot_wal_keep_size";
  if (conn.server_version() < 130000) {
    out.push_back(item(kName, CheckStatus::Warn,
                       "not before PostgreSQL 13: nothing limits the WAL a slot retains; watch the source's disk "
                       "(crmsync warns past source.max_retained_wal)"));
    return;
  }
  // pg_stat_wal (the WAL rate) is PostgreSQL 14's.
  auto res = conn.exec(conn.server_version() >= 140000
                           ? "SELECT (SELECT setting::bigint FROM pg_settings WHERE name = 'max_slot_wal_keep_size'), "
                             "w.wal_bytes::bigint, extract(epoch FROM now() - w.stats_reset)::float8 FROM pg_stat_wal w"
                           : "SELECT (SELECT setting::bigint FROM pg_settings WHERE name = 'max_slot_wal_keep_size'), "
                             "0::bigint, 0::float8");
  if (!res || res->rows() != 1) {
    if (!res) out.push_back(query_failed(kName, res.error()));
    return;
  }
  constexpr std::int64_t kMB = 1024 * 1024;
  constexpr std::int64_t kGB = 1024 * kMB;
  const std::int64_t keep_mb = std::stoll(std::string(res->get(0, 0)));
  const double wal_bytes = std::stod(std::string(res->get(0, 1)));
  const double seconds = std::stod(std::string(res->get(0, 2)));
  const double per_hour = seconds >= 600 ? wal_bytes / seconds * 3600 : 0;  // too young a sample says nothing
  const auto day = static_cast<std::int64_t>(per_hour * 24);
  const std::int64_t limit = cfg.source.max_retained_wal_bytes;
  std::int64_t want = std::max({day, 2 * limit, kGB});
  want = (want + kGB - 1) / kGB * kGB;
  const auto rate = per_hour > 0 ? fmt::format("{:.0f} MB of WAL an hour on average", per_hour / kMB)
                                 : std::string("no WAL rate yet: pg_stat_wal was reset under 10 minutes ago");
  const auto advice = fmt::format(
      "ALTER SYSTEM SET max_slot_wal_keep_size = '{}GB'; SELECT pg_reload_conf(); (at least twice "
      "source.max_retained_wal and a day of WAL; {}; pg_wal needs the room)",
      want / kGB, rate);
  if (keep_mb < 0) {
    out.push_back(item(kName, CheckStatus::Warn,
                       fmt::format("-1 (unlimited): a stream that stops (target down, daemon stopped) keeps WAL on the "
                                   "source until its disk is full. Recommended: {}",
                                   advice)));
    return;
  }
  const std::int64_t keep = keep_mb * kMB;
  if (keep <= limit) {
    out.push_back(item(kName, CheckStatus::Warn,
                       fmt::format("{} MB: the slot is lost before crmsync warns at source.max_retained_wal ({} MB); "
                                   "lower that, or: {}",
                                   keep_mb, limit / kMB, advice)));
    return;
  }
  if (keep < want) {
    out.push_back(item(kName, CheckStatus::Warn,
                       fmt::format("{} MB: less than the recommended {} GB; a long stall loses the slot (and the "
                                   "copy must be redone). Recommended: {}",
                                   keep_mb, want / kGB, advice)));
    return;
  }
  out.push_back(item(kName, CheckStatus::Ok,
                     fmt::format("{} MB (at {}; recommended at least {} GB)", keep_mb, rate, want / kGB)));
}

void check_slots(pq::Connection& conn, const config::PipelineConfig& cfg, CheckReport& out) {
  auto res = conn.exec_params(
      "SELECT current_setting('max_replication_slots')::int, (SELECT count(*) FROM pg_replication_slots), "
      "EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)",
      {cfg.source.slot});
  if (!res) {
    out.push_back(query_failed("replication slots", res.error()));
    return;
  }
  const int max = std::stoi(std::string(res->get(0, 0)));
  const int used = std::stoi(std::string(res->get(0, 1)));
  if (res->get(0, 2) == "t") {
    out.push_back(
        item("replication slots", CheckStatus::Ok,
             fmt::format("slot \"{}\" exists ({} of {} in use); run resumes from it", cfg.source.slot, used, max)));
    return;
  }
  if (used < max) {
    out.push_back(item("replication slots", CheckStatus::Ok, fmt::format("{} of {} free", max - used, max)));
    return;
  }
  out.push_back(item("replication slots", CheckStatus::Fail,
                     fmt::format("all {} replication slots are in use: raise max_replication_slots (restart needed) "
                                 "or drop an unused slot",
                                 max)));
}

void check_wal_senders(pq::Connection& conn, CheckReport& out) {
  auto res = conn.exec(
      "SELECT current_setting('max_wal_senders')::int, "
      "(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender')");
  if (!res) {
    out.push_back(query_failed("wal senders", res.error()));
    return;
  }
  const int max = std::stoi(std::string(res->get(0, 0)));
  const int used = std::stoi(std::string(res->get(0, 1)));
  if (used < max) {
    out.push_back(item("wal senders", CheckStatus::Ok, fmt::format("{} of {} free", max - used, max)));
    return;
  }
  out.push_back(item("wal senders", CheckStatus::Fail,
                     fmt::format("all {} wal senders are in use: raise max_wal_senders (restart needed)", max)));
}

void check_privilege(pq::Connection& conn, CheckReport& out) {
  auto res = conn.exec("SELECT current_user, rolsuper, rolreplication FROM pg_roles WHERE rolname = current_user");
  if (!res) {
    out.push_back(query_failed("replication privilege", res.error()));
    return;
  }
  const std::string user(res->get(0, 0));
  if (res->get(0, 1) == "t") {
    out.push_back(item("replication privilege", CheckStatus::Ok, fmt::format("role \"{}\" is a superuser", user)));
    return;
  }
  if (res->get(0, 2) == "t") {
    out.push_back(item("replication privilege", CheckStatus::Ok, fmt::format("role \"{}\" has REPLICATION", user)));
    return;
  }
  out.push_back(
      item("replication privilege", CheckStatus::Fail,
           fmt::format("role \"{}\" has neither REPLICATION nor SUPERUSER: run ALTER ROLE {} WITH REPLICATION", user,
                       pq::quote_ident(user))));
}

// crmsync creates the publication (CREATE on the database, ownership of every table) or extends an
// existing one (ownership of the publication and of each table it lacks). A role that may do
// neither passes everything else and then fails in `run` with "must be owner of table".
void check_publication(pq::Connection& conn, const config::PipelineConfig& cfg, CheckReport& out) {
  std::string names = "{";
  for (const auto& t : cfg.source.tables) {
    if (names.size() > 1) names += ',';
    std::string quoted = pq::quote_qualified(t.schema, t.table);
    names += '"';
    for (char c : quoted) {
      if (c == '"' || c == '\\') names += '\\';
      names += c;
    }
    names += '"';
  }
  names += '}';
  // Per table (that exists): whether we own it, and whether the publication already has it.
  auto res = conn.exec_params(
      "WITH wanted AS (SELECT to_regclass(n) AS rel, n FROM unnest($2::text[]) AS n), "
      "pub AS (SELECT oid, pg_has_role(pubowner, 'USAGE') AS owned FROM pg_publication WHERE pubname = $1) "
      "SELECT w.n, pg_has_role(c.relowner, 'USAGE'), "
      "       EXISTS (SELECT 1 FROM pg_publication_rel pr, pub WHERE pr.prpubid = pub.oid AND pr.prrelid = w.rel), "
      "       (SELECT count(*) FROM pub), coalesce((SELECT owned FROM pub), false), "
      "       has_database_privilege(current_database(), 'CREATE'), "
      "       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) "
      "FROM wanted w JOIN pg_class c ON c.oid = w.rel",
      {cfg.source.publication, names});
  if (!res) {
    out.push_back(query_failed("publication", res.error()));
    return;
  }
  const auto& pub = cfg.source.publication;
  if (res->rows() == 0) return;  // no table exists: the table checks say so
  const bool exists = res->get(0, 3) != "0";
  const bool owns_pub = res->get(0, 4) == "t";
  const bool may_create = res->get(0, 5) == "t";
  const bool superuser = res->get(0, 6) == "t";
  std::vector<std::string> not_owned;  // tables crmsync would have to add but may not
  std::vector<std::string> lacking;    // tables the publication lacks
  for (int r = 0; r < res->rows(); ++r) {
    if (res->get(r, 2) == "t") continue;
    lacking.emplace_back(res->get(r, 0));
    if (res->get(r, 1) != "t" && !superuser) not_owned.emplace_back(res->get(r, 0));
  }
  const auto missing = lacking.size();
  // The statement a DBA would run, with each table's row filter as crmsync would set it.
  const auto filters = cfg.row_filters();
  std::vector<std::string> list;
  std::vector<std::string> to_add;
  for (const auto& t : cfg.source.tables) {
    list.push_back(publication_entry(t, filters));
    if (std::find(lacking.begin(), lacking.end(), pq::quote_qualified(t.schema, t.table)) != lacking.end()) {
      to_add.push_back(list.back());
    }
  }
  const auto fix_sql =
      exists ? fmt::format("ALTER PUBLICATION {} ADD TABLE {}", pq::quote_ident(pub), fmt::join(to_add, ", "))
             : fmt::format("CREATE PUBLICATION {} FOR TABLE {} WITH (publish_via_partition_root = true)",
                           pq::quote_ident(pub), fmt::join(list, ", "));
  if (exists && missing == 0) {
    out.push_back(item("publication", CheckStatus::Ok, fmt::format("\"{}\" exists and has every table", pub)));
    return;
  }
  if (!exists && (superuser || (may_create && not_owned.empty()))) {
    out.push_back(item("publication", CheckStatus::Ok, fmt::format("\"{}\" will be created by run", pub)));
    return;
  }
  if (exists && (superuser || (owns_pub && not_owned.empty()))) {
    out.push_back(
        item("publication", CheckStatus::Ok, fmt::format("\"{}\" exists; run adds {} table(s)", pub, missing)));
    return;
  }
  std::string why;
  if (!exists && !may_create) why = "the role may not create objects in this database (CREATE privilege)";
  if (exists && !owns_pub) why = fmt::format("the role does not own publication \"{}\"", pub);
  if (!not_owned.empty()) {
    if (!why.empty()) why += ", and ";
    why += fmt::format("it does not own {}", fmt::join(not_owned, ", "));
  }
  out.push_back(
      item("publication", CheckStatus::Fail,
           fmt::format("crmsync cannot {} publication \"{}\": {}. Have the tables' owner (or a superuser) run "
                       "on the source: {}",
                       exists ? "extend" : "create", pub, why, fix_sql)));
}

std::string identity_problem(const TableInfo& t) {
  const auto name = pq::quote_qualified(t.schema, t.name);
  return fmt::format(
      "no primary key and REPLICA IDENTITY {}: the copy would work, but once the table is published the source "
      "rejects its UPDATEs and DELETEs, and the stream could not locate rows; add a primary key, or run ALTER TABLE "
      "{} REPLICA IDENTITY FULL (or USING INDEX on a unique, non-null index)",
      t.replica_identity == ReplicaIdentity::Nothing ? "NOTHING" : "DEFAULT", name);
}

void check_table(pq::Connection& conn, const config::TableName& name, SourcePreflight& out) {
  const auto label = fmt::format("table {}", name.qualified());
  auto info = pq::read_table(conn, name.schema, name.table);
  if (!info) {
    out.report.push_back(query_failed(label, info.error()));
    return;
  }
  if (!info->has_value()) {
    out.report.push_back(item(label, CheckStatus::Fail, "does not exist on the source (names are case-sensitive)"));
    return;
  }
  const TableInfo& t = **info;
  auto priv = conn.exec_params("SELECT has_table_privilege($1, 'SELECT')", {pq::quote_qualified(t.schema, t.name)});
  if (!priv) {
    out.report.push_back(query_failed(label, priv.error()));
    return;
  }
  if (priv->get(0, 0) != "t") {
    out.report.push_back(item(label, CheckStatus::Fail, "no SELECT privilege: GRANT SELECT on it to the crmsync role"));
  } else if (t.replica_identity == ReplicaIdentity::Nothing ||
             (t.replica_identity == ReplicaIdentity::Default && !t.has_primary_key)) {
    out.report.push_back(item(label, CheckStatus::Fail, identity_problem(t)));
  } else {
    const char* identity = t.replica_identity == ReplicaIdentity::Full    ? "REPLICA IDENTITY FULL"
                           : t.replica_identity == ReplicaIdentity::Index ? "REPLICA IDENTITY USING INDEX"
                                                                          : "primary key";
    const auto rows =
        t.estimated_rows < 0 ? std::string("not analyzed") : fmt::format("~{:.0f} rows", t.estimated_rows);
    out.report.push_back(item(label, CheckStatus::Ok,
                              fmt::format("{} columns, {}, {}{}", t.columns.size(), identity, rows,
                                          t.kind == TableKind::Partitioned ? ", partitioned" : "")));
  }
  out.tables.emplace(name, t);
}

// A mapping's `where` becomes a publication row filter (PostgreSQL 15) and part of the copy
// query: EXPLAIN parses and plans it against the table without running anything.
void check_row_filter(pq::Connection& conn, const config::TableName& name, const std::string& where, CheckReport& out) {
  const auto label = fmt::format("where of {}", name.qualified());
  if (conn.server_version() < 150000) {
    out.push_back(
        item(label, CheckStatus::Fail, "row filters need PostgreSQL 15 or later on the source (publication WHERE)"));
    return;
  }
  auto planned = conn.exec_params(
      fmt::format("EXPLAIN SELECT 1 FROM {} WHERE ({})", pq::quote_qualified(name.schema, name.table), where), {});
  if (!planned) {
    out.push_back(item(label, CheckStatus::Fail,
                       fmt::format("\"{}\" is not a condition on that table: {}", where, planned.error().message)));
    return;
  }
  out.push_back(item(label, CheckStatus::Ok, fmt::format("rows where {} (copy and stream)", where)));
}

}  // namespace

SourcePreflight preflight_source(const config::PipelineConfig& cfg) {
  SourcePreflight out;
  pq::ConnectOptions options;
  options.dsn = cfg.source.dsn;
  options.connect_timeout_s = cfg.source.connect_timeout_s;
  options.application_name = "crmsync check";
  auto conn = pq::Connection::connect(options);
  if (!conn) {
    out.report.push_back(item("connect", CheckStatus::Fail, conn.error().message));
    return out;
  }
  const int version = conn->server_version();
  if (version < kMinServerVersion) {
    out.report.push_back(item("connect", CheckStatus::Fail,
                              fmt::format("{} runs PostgreSQL {}; crmsync needs 10 or later (pgoutput)",
                                          conn->description(), version_text(version))));
    return out;
  }
  out.report.push_back(
      item("connect", CheckStatus::Ok, fmt::format("{}, PostgreSQL {}", conn->description(), version_text(version))));
  check_wal_level(*conn, out.report);
  check_slots(*conn, cfg, out.report);
  check_slot_wal_keep_size(*conn, cfg, out.report);
  check_wal_senders(*conn, out.report);
  check_privilege(*conn, out.report);
  check_publication(*conn, cfg, out.report);
  const auto filters = cfg.row_filters();
  for (const auto& table : cfg.source.tables) {
    check_table(*conn, table, out);
    if (const auto it = filters.find(table); it != filters.end() && out.tables.contains(table)) {
      check_row_filter(*conn, table, it->second, out.report);
    }
  }
  return out;
}

}  // namespace crmsync::cdc
