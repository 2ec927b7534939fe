#include "mapping/row_mapper.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace crmsync::mapping {
namespace {

Error config_error(std::string message) {
  return Error{ErrorCode::ConfigInvalid, std::move(message)};
}

// Cuts `s` into at most `count` parts at `sep`, from the front or (at_last) from the back; the
// part that keeps the rest is the last one (from the front) or the first one (from the back).
std::vector<std::string> split_value(const std::string& s, const config::Split& split) {
  const auto count = split.into.size();
  std::vector<std::string> parts;
  if (!split.at_last) {
    std::size_t start = 0;
    while (parts.size() + 1 < count) {
      const auto at = s.find(split.separator, start);
      if (at == std::string::npos) break;
      parts.push_back(s.substr(start, at - start));
      start = at + split.separator.size();
    }
    parts.push_back(s.substr(start));
    return parts;
  }
  std::vector<std::string> reversed;
  std::size_t end = s.size();
  while (reversed.size() + 1 < count && end > 0) {
    const auto at = s.rfind(split.separator, end - 1);
    if (at == std::string::npos || at + split.separator.size() > end) break;
    reversed.push_back(s.substr(at + split.separator.size(), end - at - split.separator.size()));
    end = at;
  }
  reversed.push_back(s.substr(0, end));
  parts.assign(reversed.rbegin(), reversed.rend());
  return parts;
}

}  // namespace

Result<RowMapper> RowMapper::compile(const config::Mapping* mapping, const std::vector<std::string>& source_columns,
                                     Encoding encoding) {
  RowMapper m;
  m.encoding_ = encoding;
  m.carried_.assign(source_columns.size(), std::nullopt);
  const auto index_of = [&](const std::string& name) -> std::optional<std::size_t> {
    const auto it = std::find(source_columns.begin(), source_columns.end(), name);
    if (it == source_columns.end()) return std::nullopt;
    return static_cast<std::size_t>(it - source_columns.begin());
  };
  const auto add_target = [&](std::string name, Producer p) -> Status {
    if (std::find(m.targets_.begin(), m.targets_.end(), name) != m.targets_.end()) {
      return config_error(
          fmt::format("target column \"{}\" would be written twice (a column kept under its own name "
                      "and a mapped one); rename or exclude one of them",
                      name));
    }
    m.changes_values_ =
        m.changes_values_ || p.kind != Kind::Source || !p.transforms.empty() || p.fallback || !p.checks.empty();
    m.can_reject_ =
        m.can_reject_ || !p.checks.empty() || std::any_of(p.transforms.begin(), p.transforms.end(), can_refuse);
    m.targets_.push_back(std::move(name));
    m.producers_.push_back(std::move(p));
    return {};
  };
  if (mapping != nullptr) {
    for (const auto& [name, _] : mapping->columns) {
      if (!index_of(name))
        return config_error(fmt::format("the mapping names source column \"{}\", which {} does not have", name,
                                        mapping->from.qualified()));
    }
  }
  for (std::size_t i = 0; i < source_columns.size(); ++i) {
    const auto& name = source_columns[i];
    if (mapping != nullptr &&
        std::find(mapping->exclude.begin(), mapping->exclude.end(), name) != mapping->exclude.end()) {
      continue;
    }
    const config::ColumnMapping* c = nullptr;
    if (mapping != nullptr) {
      const auto it = mapping->columns.find(name);
      if (it != mapping->columns.end()) c = &it->second;
    }
    Producer p;
    p.inputs = {i};
    p.rule_column = name;
    if (c != nullptr && c->lookup) {
      m.lookups_.push_back({i, name, *c->lookup});
      m.changes_values_ = true;
      m.can_reject_ = true;
    }
    if (c != nullptr) {
      p.transforms = c->transform;
      p.fallback = c->fallback;
      for (const auto& v : c->validate) p.checks.emplace_back(v);
    }
    if (c != nullptr && c->split) {
      for (std::size_t part = 0; part < c->split->into.size(); ++part) {
        Producer q = p;
        q.kind = Kind::SplitPart;
        q.part = part;
        q.split = *c->split;
        if (auto ok = add_target(c->split->into[part], std::move(q)); !ok) return ok.take_error();
      }
      continue;
    }
    m.carried_[i] = m.targets_.size();
    if (auto ok = add_target(c != nullptr ? c->to : name, std::move(p)); !ok) return ok.take_error();
  }
  if (mapping != nullptr) {
    for (const auto& [name, added] : mapping->add) {
      Producer p;
      p.rule_column = name;
      p.value = added.value;
      p.kind = added.kind == config::AddedKind::Constant  ? Kind::Constant
               : added.kind == config::AddedKind::Default ? Kind::Default
                                                          : Kind::Concat;
      for (const auto& column : added.columns) {
        auto index = index_of(column);
        if (!index) {
          return config_error(fmt::format("add.{}: concat names source column \"{}\", which {} does not have", name,
                                          column, mapping->from.qualified()));
        }
        p.inputs.push_back(*index);
      }
      p.separator = added.separator;
      p.transforms = added.transform;
      for (const auto& v : added.validate) p.checks.emplace_back(v);
      if (auto ok = add_target(name, std::move(p)); !ok) return ok.take_error();
    }
  }
  return m;
}

std::optional<std::size_t> RowMapper::carried_to(std::size_t source_index) const {
  return source_index < carried_.size() ? carried_[source_index] : std::nullopt;
}

std::optional<Rejection> RowMapper::produce(const Producer& p, const Row& source, RowOp op, Value& out) const {
  switch (p.kind) {
    case Kind::Constant: out = Value::of(p.value); return std::nullopt;
    case Kind::Default: out = op == RowOp::Insert ? Value::of(p.value) : Value::unchanged_toast(); return std::nullopt;
    case Kind::Concat: {
      std::string joined;
      bool any = false;
      for (const auto i : p.inputs) {
        if (source[i].kind != ValueKind::Text) continue;  // NULLs are left out, as concat_ws does
        if (any) joined += p.separator;
        joined += source[i].text;
        any = true;
      }
      out = any ? Value::of(std::move(joined)) : Value::null();
      break;
    }
    case Kind::Source:
    case Kind::SplitPart: out = source[p.inputs[0]]; break;
  }
  for (const auto& t : p.transforms) {
    if (auto refused = apply_transform(t, out, encoding_)) {
      return Rejection{p.rule_column, std::move(refused->rule), std::move(refused->reason)};
    }
  }
  if (p.kind == Kind::SplitPart && out.kind == ValueKind::Text) {
    auto parts = split_value(out.text, p.split);
    out = p.part < parts.size() ? Value::of(std::move(parts[p.part])) : Value::null();
  }
  // An old row finds the row the target holds: that has the default in place of a NULL too.
  if (p.fallback && out.kind == ValueKind::Null) out = Value::of(*p.fallback);
  if (op == RowOp::Old) return std::nullopt;
  for (const auto& check : p.checks) {
    if (auto refused = check(out, encoding_)) {
      return Rejection{p.rule_column, std::move(refused->rule), std::move(refused->reason)};
    }
  }
  return std::nullopt;
}

MapOutcome RowMapper::map(const Row& source, RowOp op) const {
  MapOutcome outcome;
  if (source.size() != carried_.size()) {
    outcome.rejected = Rejection{
        "", "layout", fmt::format("the row has {} values, the mapping expects {}", source.size(), carried_.size())};
    return outcome;
  }
  outcome.row.resize(targets_.size());
  for (std::size_t t = 0; t < targets_.size(); ++t) {
    const auto& p = producers_[t];
    // An unchanged-TOAST input: a column fed by it alone stays unchanged on the target; one that
    // also depends on other values needs the real value, or it would be computed from a part.
    std::size_t unchanged = 0;
    for (const auto i : p.inputs) unchanged += source[i].kind == ValueKind::UnchangedToast ? 1 : 0;
    if (unchanged > 0) {
      if (unchanged == p.inputs.size() && p.kind != Kind::Concat) {
        outcome.row[t] = Value::unchanged_toast();
        continue;
      }
      for (const auto i : p.inputs) {
        if (source[i].kind == ValueKind::UnchangedToast &&
            std::find(outcome.need.begin(), outcome.need.end(), i) == outcome.need.end()) {
          outcome.need.push_back(i);
        }
      }
      continue;
    }
    if (auto rejected = produce(p, source, op, outcome.row[t])) {
      outcome.rejected = std::move(rejected);
      outcome.row.clear();
      return outcome;
    }
  }
  if (!outcome.need.empty()) outcome.row.clear();
  return outcome;
}

Result<std::optional<Rejection>> RowMapper::resolve_lookups(Row& row, LookupSource& source, RowOp op) const {
  for (const auto& l : lookups_) {
    if (l.index >= row.size() || row[l.index].kind != ValueKind::Text) continue;
    auto found = source.find(l.lookup, row[l.index].text);
    if (!found) return found.take_error();
    if (!*found && op == RowOp::Old) {
      row[l.index] = Value::unchanged_toast();
      continue;
    }
    if (!*found) {
      return std::optional<Rejection>{
          Rejection{l.column, "lookup",
                    fmt::format("no {} row has {} = '{}' (its parent is not in the new CRM)",
                                l.lookup.table.qualified(), l.lookup.match, row[l.index].text)}};
    }
    row[l.index] = **found ? Value::of(std::move(***found)) : Value::null();
  }
  return std::optional<Rejection>{};
}

}  // namespace crmsync::mapping
