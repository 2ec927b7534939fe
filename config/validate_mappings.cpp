// `mappings:`: each mapping's tables, columns (rename, transforms, validator, lookup), exclusions
// and policy, and the checks across mappings (same source twice, same target twice).

#include <fmt/format.h>

#include <algorithm>

#include "config/detail/rules.hpp"
#include "config/detail/validate.hpp"

namespace crmsync::config::detail {

namespace {

constexpr std::string_view kMappingKeys[] = {"from", "to", "columns", "exclude", "add", "where", "on_invalid", "key"};
constexpr std::string_view kColumnKeys[] = {"to", "transform", "validate", "default", "lookup", "split"};
constexpr std::string_view kLookupKeys[] = {"table", "match", "take"};
constexpr std::string_view kOnInvalid[] = {"dead_letter", "skip", "halt"};

// Where a column's target name was decided, so a second column writing it can point back.
struct ColumnSite {
  std::string to;
  std::string source_path;  // mappings[i].columns.<source>
  std::string to_path;      // the `to` key when written, else source_path
  Pos to_pos;
  std::string shown_to;
  std::vector<std::string> extra_targets;  // split: every target column (then `to` is not one)

  [[nodiscard]] std::vector<std::string> targets() const {
    return extra_targets.empty() ? std::vector<std::string>{to} : extra_targets;
  }
  [[nodiscard]] bool writes(const std::string& column) const {
    const auto all = targets();
    return std::find(all.begin(), all.end(), column) != all.end();
  }
};

std::optional<Lookup> read_lookup(Context& ctx, const Value& v) {
  if (!expect_map(ctx, v)) return std::nullopt;
  const Section s(ctx, v, kLookupKeys);
  Lookup lookup;
  bool ok = true;
  if (auto t = s.require("table")) {
    auto table = read_table(ctx, *t);
    ok = ok && table.has_value();
    if (table) lookup.table = std::move(table->name);
  } else {
    ok = false;
  }
  for (auto [key, field] : {std::pair{"match", &lookup.match}, std::pair{"take", &lookup.take}}) {
    auto value = s.require(key);
    auto column = value ? read_nonempty(ctx, *value) : std::nullopt;
    ok = ok && column.has_value();
    if (column) *field = std::move(column->value);
  }
  if (!ok) return std::nullopt;
  return lookup;
}

// One entry of `columns:`: "source: target" or "source: {to, transform, validate, lookup}".
std::optional<ColumnSite> read_column(Context& ctx, const std::string& source, const Value& v, ColumnMapping& out) {
  ColumnSite site{source, v.path, v.path, v.pos, quoted(source), {}};
  if (v.node.IsScalar()) {
    auto to = read_nonempty(ctx, v);
    if (!to) return std::nullopt;
    out.to = to->value;
    site.to = std::move(to->value);
    site.shown_to = to->shown();
    return site;
  }
  if (!v.node.IsMap()) {
    ctx.error(v.pos, v.path, "expected a target column name or a mapping, got " + describe(v.node));
    return std::nullopt;
  }
  const Section s(ctx, v, kColumnKeys);
  out.to = source;
  bool to_ok = true;
  if (auto to_value = s.get("to")) {
    auto to = read_nonempty(ctx, *to_value);
    to_ok = to.has_value();
    if (to) {
      out.to = to->value;
      site = ColumnSite{to->value, v.path, to_value->path, to_value->pos, to->shown(), {}};
    }
  }
  if (auto t = s.get("transform")) read_transforms(ctx, *t, out.transform);
  if (auto val = s.get("validate")) read_validators(ctx, *val, out.validate);
  if (auto d = s.get("default")) {
    if (auto text = read_string(ctx, *d)) out.fallback = std::move(text->value);
  }
  if (auto l = s.get("lookup")) out.lookup = read_lookup(ctx, *l);
  if (auto sp = s.get("split")) {
    if (auto to_value = s.get("to")) {
      ctx.error(to_value->key_pos, to_value->path, "a split column names its targets in split.into, not in \"to\"");
      to_ok = false;
    }
    out.split = read_split(ctx, *sp);
    if (out.split) site.extra_targets = out.split->into;
  }
  if (!to_ok) return std::nullopt;
  return site;
}

void read_columns(Context& ctx, const Value& v, Mapping& m, std::vector<ColumnSite>& sites) {
  if (!expect_map(ctx, v)) return;
  const Section s(ctx, v, {});  // any key: they are the source table's column names
  for (const auto& [source, value] : s.entries()) {
    if (source.empty()) {
      ctx.error(value.key_pos, v.path, "empty column name");
      continue;
    }
    ColumnMapping column;
    auto site = read_column(ctx, source, value, column);
    m.columns.emplace(source, std::move(column));
    if (!site) continue;
    bool clash = false;
    for (const auto& target : site->targets()) {
      const auto other =
          std::find_if(sites.begin(), sites.end(), [&](const ColumnSite& c) { return c.writes(target); });
      if (other == sites.end()) continue;
      ctx.error(site->to_pos, site->to_path,
                fmt::format("target column {} is also written by {}", quoted(target), other->source_path));
      clash = true;
    }
    if (!clash) sites.push_back(std::move(*site));
  }
}

void read_exclude(Context& ctx, const Value& v, Mapping& m, const std::string& columns_path) {
  if (!expect_list(ctx, v)) return;
  std::vector<std::string> paths;  // parallel to m.exclude, for "listed twice"
  for (const Value& item : items_of(v)) {
    auto column = read_nonempty(ctx, item);
    if (!column) continue;
    const auto first = std::find(m.exclude.begin(), m.exclude.end(), column->value);
    if (first != m.exclude.end()) {
      const auto index = static_cast<std::size_t>(first - m.exclude.begin());
      ctx.error(item.pos, item.path,
                fmt::format("column {} is listed twice (first at {})", column->shown(), paths[index]));
      continue;
    }
    if (m.columns.contains(column->value)) {
      ctx.error(item.pos, item.path,
                fmt::format("column {} is both excluded and mapped (at {})", column->shown(),
                            child_path(columns_path, column->value)));
    }
    m.exclude.push_back(std::move(column->value));
    paths.push_back(item.path);
  }
}

// The target key: target columns (written by the mapping; run checks that against the catalog)
// that updates and deletes locate rows by, e.g. [source_system, legacy_id] when several legacy
// systems feed one table.
void read_key(Context& ctx, const Value& v, Mapping& m) {
  if (!expect_list(ctx, v)) return;
  std::vector<std::string> paths;
  for (const Value& item : items_of(v)) {
    auto column = read_nonempty(ctx, item);
    if (!column) continue;
    const auto first = std::find(m.key.begin(), m.key.end(), column->value);
    if (first != m.key.end()) {
      ctx.error(item.pos, item.path,
                fmt::format("column {} is listed twice (first at {})", column->shown(),
                            paths[static_cast<std::size_t>(first - m.key.begin())]));
      continue;
    }
    m.key.push_back(std::move(column->value));
    paths.push_back(item.path);
  }
  if (m.key.empty() && paths.empty()) ctx.error(v.pos, v.path, "list at least one target column");
}

void read_mapping(Context& ctx, const Value& item, Mapping& m, MappingSite& site) {
  if (!expect_map(ctx, item)) return;
  const Section s(ctx, item, kMappingKeys);
  if (auto from = s.require("from")) {
    site.from = read_table(ctx, *from);
    if (site.from) m.from = site.from->name;
  }
  if (auto to = s.get("to")) {
    site.to_written = true;
    site.to = read_table(ctx, *to);
  } else {
    site.to = site.from;
  }
  if (site.to) m.to = site.to->name;
  std::vector<ColumnSite> columns;
  const std::string columns_path = child_path(item.path, "columns");
  if (auto c = s.get("columns")) read_columns(ctx, *c, m, columns);
  if (auto e = s.get("exclude")) read_exclude(ctx, *e, m, columns_path);
  if (auto a = s.get("add")) {
    read_added(ctx, *a, m.add, [&columns](const std::string& target) -> std::optional<std::string> {
      const auto other =
          std::find_if(columns.begin(), columns.end(), [&](const ColumnSite& c) { return c.writes(target); });
      if (other == columns.end()) return std::nullopt;
      return other->source_path;
    });
  }

  if (auto w = s.get("where")) {
    if (auto where = read_nonempty(ctx, *w)) m.where = std::move(where->value);
  }
  if (auto p = s.get("on_invalid")) {
    if (auto i = read_choice(ctx, *p, "on_invalid policy", kOnInvalid)) m.on_invalid = static_cast<OnInvalid>(*i);
  }
  if (auto k = s.get("key")) read_key(ctx, *k, m);
}

// Two mappings of one source table would disagree on what a row becomes; two mappings into one
// target table would overwrite each other's rows.
void check_against_earlier(Context& ctx, const MappingsRead& out, const MappingSite& site) {
  const auto index_of = [&](auto pred) {
    const auto it = std::find_if(out.sites.begin(), out.sites.end(), pred);
    return it == out.sites.end() ? std::string()
                                 : index_path("mappings", static_cast<std::size_t>(it - out.sites.begin()));
  };
  if (site.from) {
    const auto earlier = index_of([&](const MappingSite& o) { return o.from && o.from->name == site.from->name; });
    if (!earlier.empty()) {
      ctx.error(site.from->pos, site.from->path, fmt::format("{} is already mapped by {}", site.from->shown, earlier));
      return;  // its target (often the same default) would only repeat the point
    }
  }
  if (site.to) {
    const auto earlier = index_of([&](const MappingSite& o) { return o.to && o.to->name == site.to->name; });
    if (!earlier.empty()) {
      const char* note = site.to_written ? "" : " (without \"to\", a mapping writes to the table of the same name)";
      ctx.error(site.to->pos, site.to->path,
                fmt::format("{} is already the target of {}{}", site.to->shown, earlier, note));
    }
  }
}

}  // namespace

MappingsRead read_mappings(Context& ctx, const Value& list) {
  MappingsRead out;
  if (!expect_list(ctx, list)) {
    out.invalid = true;
    return out;
  }
  for (const Value& item : items_of(list)) {
    Mapping m;
    MappingSite site;
    read_mapping(ctx, item, m, site);
    check_against_earlier(ctx, out, site);
    out.mappings.push_back(std::move(m));
    out.sites.push_back(std::move(site));
  }
  return out;
}

}  // namespace crmsync::config::detail
