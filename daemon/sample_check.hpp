#pragma once
// `crmsync check --sample N`: a dry run of the mapping on real rows. Reads up to N rows of each
// mapped source table (through its `where`, in one read-only transaction per table), maps them
// with the same RowMapper the copy and the stream use, and reports how many the mapping would
// refuse, by column and rule, with a few examples. Writes nothing anywhere.

#include <cstdint>
#include <string>
#include <vector>

#include "config/pipeline_config.hpp"
#include "core/result.hpp"

namespace crmsync::daemon {

struct SampledRule {
  std::string column;
  std::string rule;
  std::int64_t rows = 0;
  std::vector<std::string> examples;  // "key: reason", at most three
};

struct TableSample {
  std::string table;  // source table, qualified
  std::int64_t rows = 0;
  std::int64_t accepted = 0;
  config::OnInvalid on_invalid = config::OnInvalid::DeadLetter;
  std::vector<SampledRule> refused;  // by number of rows, most first
  std::string error;                 // the table could not be sampled (and why)
};

/// Samples every mapped table of source.tables; a connection failure is an error, a table that
/// cannot be read is reported in its TableSample.
Result<std::vector<TableSample>> sample_mappings(const config::PipelineConfig& cfg, std::int64_t rows_per_table);

std::string render_samples_text(const std::vector<TableSample>& samples);

}  // namespace crmsync::daemon
