#pragma once
// Target preflight for `crmsync check`: do the tables and columns the pipeline will write exist,
// with compatible types, and may this user write them?

#include <optional>
#include <string>
#include <vector>

#include "core/check.hpp"
#include "core/output_shape.hpp"
#include "pq/connection.hpp"

namespace crmsync::sink::postgres {

struct ExpectedColumn {
  std::string name;         // target column name
  std::string source_type;  // the source column's type, for a compatibility note
  /// What a mapping's rules write into it (absent: the source value as it is): checked against
  /// the target's type (text into a number, a time into a date, a map value an enum lacks, text
  /// longer than a varchar allows).
  std::optional<OutputShape> shape{};
};

struct ExpectedTable {
  std::string schema;
  std::string name;
  std::vector<ExpectedColumn> columns;
  bool may_create = false;       // target.create_tables with an identity mapping
  std::vector<std::string> key;  // a mapping's target key (consolidation); empty: the source's
};

// A mapping's lookup: `take` of the `table` row whose `match` equals the source value.
struct ExpectedLookup {
  std::string schema;
  std::string table;
  std::string match;
  std::string take;
  std::string used_by;  // "public.contacts.account_id"
};

struct TargetOptions {
  pq::ConnectOptions connection;    // with the session settings crmsync's target sessions pin
  bool replica_role = true;         // sessions run with session_replication_role = replica
  std::string replica_role_advice;  // what to do when the role may not set it
};

/// Connects once, checks every expected table. An unreachable target is a failed "connect" item.
/// Each lookup's table must exist with both columns, `match` under a unique index of its own.
CheckReport preflight_target(const TargetOptions& options, const std::vector<ExpectedTable>& tables,
                             const std::vector<ExpectedLookup>& lookups = {});

}  // namespace crmsync::sink::postgres
