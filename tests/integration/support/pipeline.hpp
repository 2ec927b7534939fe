#pragma once
// A source and a target cluster plus a config file and state directory: what most end-to-end
// tests of `crmsync run` need.

#include <map>
#include <string>
#include <vector>

#include "support/cluster.hpp"
#include "support/process.hpp"

namespace crmsync::testing {

class PipelineFixture {
 public:
  explicit PipelineFixture(const std::string& label);

  PgCluster source;
  PgCluster target;
  TempDir dir;

  /// Writes crmsync.yaml for `tables` (YAML list items, e.g. "public.contacts") plus `extra` YAML
  /// appended verbatim (e.g. "snapshot:\n  chunk_rows: 1000\n"). Returns its path.
  std::string write_config(const std::vector<std::string>& tables, const std::string& extra = "") const;
  /// Like write_config, with connection strings of the caller's (another database, another role,
  /// another cluster) and no log level (so the default, info, applies unless `extra` sets one).
  std::string write_config_with(const std::string& source_dsn, const std::string& target_dsn,
                                const std::vector<std::string>& tables, const std::string& extra = "") const;
  [[nodiscard]] std::string config_path() const { return dir.path() + "/crmsync.yaml"; }
  [[nodiscard]] std::string state_dir() const { return dir.path() + "/state"; }

  /// Runs `crmsync <args...> -c crmsync.yaml` to completion.
  ProcessResult crmsync(const std::vector<std::string>& args) const;
};

/// Whether the pipeline's daemon streams (its walsender is there: the copy is done).
bool streaming(const PipelineFixture& p);

/// md5 over every row's text form in key order: equal checksums mean equal tables.
std::string table_checksum(const PgCluster& cluster, const std::string& qualified_table, const std::string& order_by);
std::int64_t row_count(const PgCluster& cluster, const std::string& qualified_table);

}  // namespace crmsync::testing
