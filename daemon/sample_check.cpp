#include "daemon/sample_check.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "daemon/sessions.hpp"
#include "mapping/row_mapper.hpp"
#include "pq/catalog.hpp"
#include "pq/connection.hpp"

namespace crmsync::daemon {
namespace {

constexpr std::size_t kExamples = 3;

const char* policy(config::OnInvalid p) {
  switch (p) {
    case config::OnInvalid::DeadLetter: return "dead_letter";
    case config::OnInvalid::Skip: return "skip";
    case config::OnInvalid::Halt: return "halt";
  }
  return "dead_letter";
}

// One table: its rows as text, mapped one by one as inserts (what the copy does with them).
TableSample sample_table(pq::Connection& source, const config::TableName& name, const config::Mapping& mapping,
                         std::int64_t limit) {
  TableSample out;
  out.table = name.qualified();
  out.on_invalid = mapping.on_invalid;
  const auto fail = [&](const std::string& why) {
    out.error = why;
    return out;
  };
  auto info = pq::read_table(source, name.schema, name.table);
  if (!info) return fail(info.error().message);
  if (!info->has_value()) return fail("the source table does not exist");
  std::vector<std::string> names;
  std::vector<std::string> quoted;
  std::vector<std::size_t> key;
  for (const auto& c : (*info)->columns) {
    if (c.generated) continue;
    if (c.primary_key) key.push_back(names.size());
    names.push_back(c.name);
    quoted.push_back(pq::quote_ident(c.name));
  }
  // UTF-8 on this session, as the target session of run converts to: lengths count characters.
  auto mapper = mapping::RowMapper::compile(&mapping, names, mapping::Encoding::Utf8);
  if (!mapper) return fail(mapper.error().message);
  const auto where = mapping.where ? " WHERE (" + *mapping.where + ")" : std::string();
  auto res = source.exec_params(fmt::format("SELECT {} FROM {}{} LIMIT {}", fmt::join(quoted, ", "),
                                            pq::quote_qualified(name.schema, name.table), where, limit),
                                {});
  if (!res) return fail(res.error().message);
  std::map<std::pair<std::string, std::string>, SampledRule> rules;
  Row row(names.size());
  for (int r = 0; r < res->rows(); ++r) {
    for (std::size_t c = 0; c < names.size(); ++c) {
      const int col = static_cast<int>(c);
      row[c] = res->is_null(r, col) ? Value::null() : Value::of(std::string(res->get(r, col)));
    }
    ++out.rows;
    const auto mapped = mapper->map(row, mapping::RowOp::Insert);
    if (!mapped.rejected) {
      ++out.accepted;
      continue;
    }
    auto& rule = rules[{mapped.rejected->column, mapped.rejected->rule}];
    rule.column = mapped.rejected->column;
    rule.rule = mapped.rejected->rule;
    ++rule.rows;
    if (rule.examples.size() < kExamples) {
      std::vector<std::string> parts;
      for (const auto k : key) parts.push_back(fmt::format("{}={}", names[k], row[k].is_null() ? "NULL" : row[k].text));
      rule.examples.push_back(
          fmt::format("{}: {}", parts.empty() ? std::string("(no key)") : fmt::format("{}", fmt::join(parts, ",")),
                      mapped.rejected->reason));
    }
  }
  for (auto& [_, rule] : rules) out.refused.push_back(std::move(rule));
  std::stable_sort(out.refused.begin(), out.refused.end(),
                   [](const SampledRule& a, const SampledRule& b) { return a.rows > b.rows; });
  return out;
}

}  // namespace

Result<std::vector<TableSample>> sample_mappings(const config::PipelineConfig& cfg, std::int64_t rows_per_table) {
  // The session settings of the copy (ISO dates whatever the legacy DateStyle), in UTF-8 whatever
  // the source's encoding, and read only.
  auto source = pq::Connection::connect(Sessions(cfg, "UTF8").source("crmsync check --sample"));
  if (!source) return source.take_error();
  if (auto ok = source->exec("SET default_transaction_read_only = on"); !ok) return ok.take_error();
  std::vector<TableSample> out;
  for (const auto& name : cfg.source.tables) {
    const auto* mapping = cfg.mapping_for(name);
    if (mapping == nullptr) continue;  // copied as it is: no rule can refuse a row
    out.push_back(sample_table(*source, name, *mapping, rows_per_table));
  }
  return out;
}

std::string render_samples_text(const std::vector<TableSample>& samples) {
  std::string out = "\nsample: rows read per mapped table and what the mapping makes of them (nothing written)\n";
  if (samples.empty()) out += "  no mapped tables\n";
  for (const auto& s : samples) {
    if (!s.error.empty()) {
      out += fmt::format("  {}: could not sample: {}\n", s.table, s.error);
      continue;
    }
    const auto refused = s.rows - s.accepted;
    out += fmt::format("  {}: {} rows read, {} would be written, {} refused{}\n", s.table, s.rows, s.accepted, refused,
                       refused == 0 ? std::string() : fmt::format(" (on_invalid: {})", policy(s.on_invalid)));
    for (const auto& r : s.refused) {
      out += fmt::format("    column {}, rule {}: {} row{}\n", r.column, r.rule, r.rows, r.rows == 1 ? "" : "s");
      for (const auto& e : r.examples) out += fmt::format("      e.g. {}\n", e);
    }
  }
  return out;
}

}  // namespace crmsync::daemon
