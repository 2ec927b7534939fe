#pragma once
// verify's plan of one table (what is read on each side and how it is matched) and its
// in-database pass over key-range chunks (verify_chunks.cpp); the row pass is in verify.cpp.

#include <cstdint>
#include <string>
#include <vector>

#include "config/pipeline_config.hpp"
#include "core/result.hpp"
#include "mapping/row_mapper.hpp"
#include "pq/connection.hpp"

namespace crmsync::daemon::detail {

struct Plan {
  config::TableName source;
  config::TableName target;
  const config::Mapping* mapping = nullptr;
  std::vector<std::string> source_columns;  // read from the source (generated ones are never sent)
  std::vector<std::string> source_types;    // format_type() of each
  std::vector<std::size_t> source_key;      // their indexes forming the source key
  std::vector<std::string> target_columns;  // what the mapping writes, in the mapper's order
  std::vector<std::string> target_types;    // format_type() of each on the target
  std::vector<bool> canonical;              // bring the mapped value through the target's type
  std::vector<std::size_t> key;             // target key columns (all columns: no key)
  bool keyed = true;
  std::vector<std::size_t> source_order;  // source columns to read in order of
  std::vector<std::size_t> target_order;  // target columns to read in order of
  std::string owned;                      // the target rows this pipeline owns (SQL), or empty
};

// The in-database pass: when the mapping carries every value as it is (a rename at most) into a
// column of the same type, under one key column, both sides compute per key-range bucket a count
// and a checksum of the rows (the source's own histogram bounds of the key
// column cut the buckets; no statistics: one bucket), in parallel; the row checksum is the sum of
// a 64-bit slice of each row's md5 over its text, so no side sorts. An equal table then costs one
// aggregate scan per side and no row transfer; only the buckets that differ are compared row by
// row, where the verdict is made (a checksum alone never reports a difference).
struct BucketPass {
  bool used = false;
  std::string predicate;         // for the row pass: the key column in a differing bucket ("" = all)
  std::string source_filter;     // the same on the source side
  std::int64_t source_rows = 0;  // rows in the equal buckets
  std::int64_t target_rows = 0;
  std::size_t buckets = 0;
  std::size_t differing = 0;
};

Result<BucketPass> bucket_pass(const Plan& p, const mapping::RowMapper& mapper, pq::Connection& source,
                               pq::Connection& target);

}  // namespace crmsync::daemon::detail
