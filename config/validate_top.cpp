// The top level and the small sections (source, target, snapshot, apply, log), then the checks
// that need both source.tables and mappings.

#include <fmt/format.h>

#include <algorithm>
#include <climits>

#include "config/detail/validate.hpp"

namespace crmsync::config::detail {

namespace {

constexpr std::string_view kTopKeys[] = {"name",  "state_dir", "source", "target", "snapshot",
                                         "apply", "cutover",   "http",   "log",    "mappings"};
constexpr std::string_view kSourceKeys[] = {
    "dsn",        "tables", "slot", "publication", "connect_timeout_s", "receive_timeout_s", "max_retained_wal",
    "heartbeat_s"};
constexpr std::string_view kHttpKeys[] = {"listen", "ready_max_lag_s"};
constexpr std::string_view kTargetKeys[] = {"type", "dsn", "create_tables", "connect_timeout_s", "replication_role"};
constexpr std::string_view kSnapshotKeys[] = {"parallel", "truncate_target", "chunk_rows"};
constexpr std::string_view kApplyKeys[] = {"max_batch_delay_ms", "linger_us", "max_batch_bytes", "compact",
                                           "synchronous_commit"};
constexpr std::string_view kLogKeys[] = {"format", "level"};
constexpr std::string_view kCutoverKeys[] = {"fence_sql",        "unfence_sql",  "sequence_headroom",
                                             "marker_timeout_s", "write_wait_s", "sequences"};

constexpr std::string_view kTargetTypes[] = {"postgres"};
constexpr std::string_view kReplicationRoles[] = {"replica", "origin"};  // ReplicationRole order
constexpr std::string_view kSynchronousCommit[] = {"off", "on"};         // SynchronousCommit order
constexpr std::string_view kLogFormats[] = {"text", "json"};
constexpr std::string_view kLogLevels[] = {"trace", "debug", "info", "warn", "error"};

// `name` prefixes slot and publication names ("crmsync_" + name), and PostgreSQL identifiers
// stop at 63 bytes; 48 leaves room for the prefix and for per-table suffixes later.
constexpr std::size_t kMaxPipelineName = 48;
constexpr std::size_t kMaxIdentifier = 63;
constexpr std::string_view kDefaultStateRoot = "/var/lib/crmsync/";
constexpr std::string_view kDefaultPrefix = "crmsync_";

bool is_simple_identifier(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(),
                                   [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

// host:port with a numeric port 0..65535; an IPv6 host in brackets.
bool valid_listen(std::string_view s) {
  const auto colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == s.size()) return false;
  const auto host = s.substr(0, colon);
  const auto port = s.substr(colon + 1);
  if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  const auto n = std::stoi(std::string(port));
  if (n > 65535) return false;  // 0: any free port (the daemon writes the one it got into state_dir)
  if (host.front() == '[') return host.size() > 2 && host.back() == ']';
  return host.find(':') == std::string_view::npos;
}

// A size as PostgreSQL writes them: a number of bytes, or with kB, MB, GB or TB (1024-based);
// 0 turns the check off.
std::optional<std::int64_t> read_size(Context& ctx, const Value& v) {
  auto text = read_nonempty(ctx, v);
  if (!text) return std::nullopt;
  const std::string& t = text->value;
  std::size_t digits = 0;
  while (digits < t.size() && t[digits] >= '0' && t[digits] <= '9') ++digits;
  auto unit = std::string_view(t).substr(digits);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  constexpr std::pair<std::string_view, int> kUnits[] = {{"", 0},    {"B", 0},   {"kB", 10},
                                                         {"MB", 20}, {"GB", 30}, {"TB", 40}};
  const auto* u = std::find_if(std::begin(kUnits), std::end(kUnits), [&](const auto& p) { return p.first == unit; });
  if (digits == 0 || digits > 12 || u == std::end(kUnits)) {
    ctx.error(v.pos, v.path, fmt::format("expected a size such as 8GB, 512MB or 0 (off), got {}", text->shown()));
    return std::nullopt;
  }
  const std::int64_t n = std::stoll(t.substr(0, digits));
  if (u->second > 0 && n > (INT64_MAX >> u->second)) {
    ctx.error(v.pos, v.path, fmt::format("{} is too large", text->shown()));
    return std::nullopt;
  }
  return n << u->second;
}

// name, slot, publication: [a-z0-9_]+ and at most `max` characters, because they end up as
// unquoted PostgreSQL identifiers.
std::optional<std::string> read_identifier(Context& ctx, const Value& v, std::string_view noun, std::size_t max,
                                           std::string_view why) {
  auto s = read_nonempty(ctx, v);
  if (!s) return std::nullopt;
  if (!is_simple_identifier(s->value)) {
    ctx.error(v.pos, v.path,
              fmt::format("invalid {} {}: use only lowercase letters, digits and underscores ([a-z0-9_]+)", noun,
                          s->shown()));
    return std::nullopt;
  }
  if (s->value.size() > max) {
    ctx.error(v.pos, v.path,
              fmt::format("{} is {} characters long; at most {} are allowed{}", noun, s->value.size(), max, why));
    return std::nullopt;
  }
  return std::move(s->value);
}

template <typename T>
void read_int_into(Context& ctx, const std::optional<Value>& v, T& field, std::int64_t min, std::int64_t max) {
  if (!v) return;
  if (auto n = read_int(ctx, *v, min, max)) field = static_cast<T>(*n);
}

void read_bool_into(Context& ctx, const std::optional<Value>& v, bool& field) {
  if (!v) return;
  if (auto b = read_bool(ctx, *v)) field = *b;
}

void read_dsn_into(Context& ctx, const std::optional<Value>& v, std::string& field) {
  if (!v) return;
  if (auto s = read_nonempty(ctx, *v, Splice::Conninfo)) field = std::move(s->value);
}

struct SourceRead {
  bool present = false;
  Value self;
  std::optional<Value> tables_value;  // set when source.tables is written (even if invalid)
  std::vector<LocatedTable> tables;
  bool tables_complete = false;  // a list whose every entry was valid: safe to cross-check against
  bool slot_written = false;
  bool publication_written = false;
};

void read_source_tables(Context& ctx, const Value& v, SourceRead& out) {
  if (!expect_list(ctx, v)) return;
  out.tables_complete = true;
  for (const Value& item : items_of(v)) {
    auto table = read_table(ctx, item);
    if (!table) {
      out.tables_complete = false;
      continue;
    }
    const auto first = std::find_if(out.tables.begin(), out.tables.end(),
                                    [&](const LocatedTable& t) { return t.name == table->name; });
    if (first != out.tables.end()) {
      ctx.error(item.pos, item.path, fmt::format("{} is listed twice (first at {})", table->shown, first->path));
      continue;
    }
    out.tables.push_back(std::move(*table));
  }
}

void read_source(Context& ctx, const Value& v, SourceConfig& cfg, SourceRead& out) {
  if (!expect_map(ctx, v)) return;
  out.present = true;
  out.self = v;
  const Section s(ctx, v, kSourceKeys);
  read_dsn_into(ctx, s.require("dsn"), cfg.dsn);
  if (auto t = s.get("tables")) {
    out.tables_value = *t;
    read_source_tables(ctx, *t, out);
  }
  if (auto slot = s.get("slot")) {
    out.slot_written = true;
    if (auto id = read_identifier(ctx, *slot, "slot name", kMaxIdentifier, "")) cfg.slot = std::move(*id);
  }
  if (auto publication = s.get("publication")) {
    out.publication_written = true;
    if (auto id = read_identifier(ctx, *publication, "publication name", kMaxIdentifier, "")) {
      cfg.publication = std::move(*id);
    }
  }
  read_int_into(ctx, s.get("connect_timeout_s"), cfg.connect_timeout_s, 1, 3600);
  read_int_into(ctx, s.get("receive_timeout_s"), cfg.receive_timeout_s, 0, 3600);
  if (auto w = s.get("max_retained_wal")) {
    if (auto bytes = read_size(ctx, *w)) cfg.max_retained_wal_bytes = *bytes;
  }
  read_int_into(ctx, s.get("heartbeat_s"), cfg.heartbeat_s, 0, 3600);
}

void read_http(Context& ctx, const Value& v, HttpConfig& cfg) {
  if (!expect_map(ctx, v)) return;
  const Section s(ctx, v, kHttpKeys);
  if (auto l = s.get("listen")) {
    if (auto text = read_nonempty(ctx, *l)) {
      if (text->value == "off" || valid_listen(text->value)) {
        cfg.listen = std::move(text->value);
      } else {
        ctx.error(l->pos, l->path,
                  fmt::format("expected host:port (e.g. 127.0.0.1:9187, [::1]:9187, 0.0.0.0:9187) or off, got {}",
                              text->shown()));
      }
    }
  }
  read_int_into(ctx, s.get("ready_max_lag_s"), cfg.ready_max_lag_s, 1, 86400);
}

void read_target(Context& ctx, const Value& v, TargetConfig& cfg) {
  if (!expect_map(ctx, v)) return;
  const Section s(ctx, v, kTargetKeys);
  if (auto type = s.get("type")) {
    if (read_choice(ctx, *type, "target type", kTargetTypes)) cfg.type = TargetType::Postgres;
  }
  read_dsn_into(ctx, s.require("dsn"), cfg.dsn);
  read_bool_into(ctx, s.get("create_tables"), cfg.create_tables);
  read_int_into(ctx, s.get("connect_timeout_s"), cfg.connect_timeout_s, 1, 3600);
  if (auto role = s.get("replication_role")) {
    if (auto i = read_choice(ctx, *role, "replication role", kReplicationRoles)) {
      cfg.replication_role = static_cast<ReplicationRole>(*i);
    }
  }
}

void read_snapshot(Context& ctx, const Value& v, SnapshotConfig& cfg) {
  if (!expect_map(ctx, v)) return;
  const Section s(ctx, v, kSnapshotKeys);
  read_int_into(ctx, s.get("parallel"), cfg.parallel, 1, 64);
  read_bool_into(ctx, s.get("truncate_target"), cfg.truncate_target);
  read_int_into(ctx, s.get("chunk_rows"), cfg.chunk_rows, 1000, INT64_MAX);
}

void read_apply(Context& ctx, const Value& v, ApplyConfig& cfg) {
  if (!expect_map(ctx, v)) return;
  const Section s(ctx, v, kApplyKeys);
  read_int_into(ctx, s.get("max_batch_delay_ms"), cfg.max_batch_delay_ms, 0, 60000);
  read_int_into(ctx, s.get("linger_us"), cfg.linger_us, 0, 1'000'000);
  read_int_into(ctx, s.get("max_batch_bytes"), cfg.max_batch_bytes, 1, INT_MAX);
  read_bool_into(ctx, s.get("compact"), cfg.compact);
  if (auto sc = s.get("synchronous_commit")) {
    if (auto i = read_choice(ctx, *sc, "synchronous_commit setting", kSynchronousCommit)) {
      cfg.synchronous_commit = static_cast<SynchronousCommit>(*i);
    }
  }
}

void read_cutover(Context& ctx, const Value& v, CutoverConfig& cfg) {
  if (!expect_map(ctx, v)) return;
  const Section s(ctx, v, kCutoverKeys);
  for (auto [key, into] : {std::pair{"fence_sql", &cfg.fence_sql}, std::pair{"unfence_sql", &cfg.unfence_sql}}) {
    if (auto f = s.get(key)) {
      if (auto sql = read_nonempty(ctx, *f)) *into = std::move(sql->value);
    }
  }
  read_int_into(ctx, s.get("sequence_headroom"), cfg.sequence_headroom, 0, INT64_MAX / 4);
  if (auto seqs = s.get("sequences"); seqs && expect_map(ctx, *seqs)) {
    const Section entries(ctx, *seqs, {});
    for (const auto& [target, from] : entries.entries()) {
      if (auto text = read_nonempty(ctx, from)) cfg.sequences.emplace(target, std::move(text->value));
    }
  }
  read_int_into(ctx, s.get("marker_timeout_s"), cfg.marker_timeout_s, 1, 3600);
  read_int_into(ctx, s.get("write_wait_s"), cfg.write_wait_s, 1, 3600);
  if (cfg.fence_sql.empty() != cfg.unfence_sql.empty()) {
    ctx.error(v.pos, v.path,
              "fence_sql and unfence_sql go together: a fence that cannot be undone would leave the "
              "source read-only after a failed cutover");
  }
}

void read_log(Context& ctx, const Value& v, LogConfig& cfg) {
  if (!expect_map(ctx, v)) return;
  const Section s(ctx, v, kLogKeys);
  if (auto f = s.get("format")) {
    if (auto i = read_choice(ctx, *f, "log format", kLogFormats)) cfg.format = static_cast<LogFormat>(*i);
  }
  if (auto l = s.get("level")) {
    if (auto i = read_choice(ctx, *l, "log level", kLogLevels)) cfg.level = static_cast<LogLevel>(*i);
  }
}

// source.tables against mappings: every mapping must be reachable, an unmapped table (copied
// as-is to the same name) must not collide with a mapping's target, and there must be something
// to replicate. When source.tables is omitted it is the mappings' `from`s, in order.
void resolve_tables(Context& ctx, PipelineConfig& cfg, const SourceRead& src, const MappingsRead& maps) {
  if (!src.tables_value) {
    if (maps.sites.empty() && !maps.invalid) {
      ctx.error(src.self.key_pos, child_path(src.self.path, "tables"),
                "no tables to replicate: list them in source.tables or add mappings");
    }
    for (const MappingSite& site : maps.sites) {
      if (site.from) cfg.source.tables.push_back(site.from->name);
    }
    return;
  }
  if (src.tables_value->node.IsSequence() && src.tables_value->node.size() == 0 && maps.sites.empty() &&
      !maps.invalid) {
    ctx.error(src.tables_value->pos, src.tables_value->path,
              "no tables to replicate: list them in source.tables or add mappings");
  }
  for (const LocatedTable& t : src.tables) cfg.source.tables.push_back(t.name);
  // A half-read list would make every mapping of a misspelt table look unreachable: one report
  // (the bad entry) is enough.
  if (!src.tables_complete) return;
  const auto listed = [&](const TableName& name) {
    return std::find_if(src.tables.begin(), src.tables.end(), [&](const LocatedTable& t) { return t.name == name; });
  };
  for (const MappingSite& site : maps.sites) {
    if (site.from && listed(site.from->name) == src.tables.end()) {
      ctx.error(site.from->pos, site.from->path,
                fmt::format("{} is not in source.tables, so this mapping would never be used", site.from->shown));
    }
  }
  for (const LocatedTable& t : src.tables) {
    if (cfg.mapping_for(t.name) != nullptr) continue;
    for (const MappingSite& site : maps.sites) {
      if (!site.to || site.to->name != t.name) continue;
      ctx.error(
          site.to->pos, site.to->path,
          fmt::format("{} is also the target of {}, which has no mapping and is copied as-is", site.to->shown, t.path));
    }
  }
}

void fill_defaults(PipelineConfig& cfg, const SourceRead& src) {
  if (cfg.state_dir.empty()) cfg.state_dir = std::string(kDefaultStateRoot) + cfg.name;
  if (!src.slot_written) cfg.source.slot = std::string(kDefaultPrefix) + cfg.name;
  if (!src.publication_written) cfg.source.publication = std::string(kDefaultPrefix) + cfg.name;
}

}  // namespace

std::optional<PipelineConfig> validate_document(Context& ctx, const YAML::Node& root) {
  const Pos top = pos_of(root);
  if (!root.IsMap()) {
    ctx.error(top, "", "expected a mapping at the top level, got " + describe(root));
    return std::nullopt;
  }
  const Section s(ctx, Value{root, "", top, top}, kTopKeys);
  PipelineConfig cfg;
  if (auto v = s.require("name")) {
    const char* why = " (it prefixes replication slot and publication names, which PostgreSQL limits to 63)";
    if (auto name = read_identifier(ctx, *v, "name", kMaxPipelineName, why)) cfg.name = std::move(*name);
  }
  if (auto v = s.get("state_dir")) {
    if (auto dir = read_nonempty(ctx, *v)) {
      if (dir->value.front() == '/') {
        cfg.state_dir = std::move(dir->value);
      } else {
        ctx.error(v->pos, v->path, fmt::format("must be an absolute path, got {}", dir->shown()));
      }
    }
  }
  SourceRead src;
  if (auto v = s.require("source")) read_source(ctx, *v, cfg.source, src);
  if (auto v = s.require("target")) read_target(ctx, *v, cfg.target);
  if (auto v = s.get("snapshot")) read_snapshot(ctx, *v, cfg.snapshot);
  if (auto v = s.get("apply")) read_apply(ctx, *v, cfg.apply);
  if (auto v = s.get("cutover")) read_cutover(ctx, *v, cfg.cutover);
  if (auto v = s.get("http")) read_http(ctx, *v, cfg.http);
  if (auto v = s.get("log")) read_log(ctx, *v, cfg.log);
  MappingsRead maps;
  if (auto v = s.get("mappings")) maps = read_mappings(ctx, *v);
  cfg.mappings = std::move(maps.mappings);
  if (src.present) resolve_tables(ctx, cfg, src, maps);
  if (ctx.error_count() > 0) return std::nullopt;
  fill_defaults(cfg, src);
  return cfg;
}

}  // namespace crmsync::config::detail
