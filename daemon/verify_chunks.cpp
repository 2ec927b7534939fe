#include "daemon/verify_chunks.hpp"

#include <fmt/format.h>

#include <future>
#include <map>
#include <set>

namespace crmsync::daemon::detail {

Result<BucketPass> bucket_pass(const Plan& p, const mapping::RowMapper& mapper, pq::Connection& source,
                               pq::Connection& target) {
  BucketPass pass;
  if (mapper.changes_values() || !p.keyed || p.key.size() != 1 || !p.owned.empty()) return pass;
  std::vector<std::string> src_cols;
  for (std::size_t t = 0; t < p.target_columns.size(); ++t) {
    if (p.canonical[t]) return pass;
    std::optional<std::size_t> from;
    for (std::size_t i = 0; i < p.source_columns.size(); ++i) {
      if (mapper.carried_to(i) == t) from = i;
    }
    if (!from) return pass;
    src_cols.push_back(pq::quote_ident(p.source_columns[*from]));
  }
  std::vector<std::string> dst_cols;
  for (const auto& c : p.target_columns) dst_cols.push_back(pq::quote_ident(c));
  const auto key_t = p.key.front();
  std::size_t key_s = 0;
  for (std::size_t i = 0; i < p.source_columns.size(); ++i) {
    if (mapper.carried_to(i) == key_t) key_s = i;
  }
  const auto& key_type = p.target_types[key_t];
  auto stats = source.exec_params(
      "SELECT histogram_bounds::text FROM pg_stats WHERE schemaname = $1 AND tablename = $2 AND attname = $3 AND "
      "histogram_bounds IS NOT NULL",
      {p.source.schema, p.source.table, p.source_columns[key_s]});
  if (!stats) return stats.take_error();
  const std::string bounds = stats->rows() > 0 ? std::string(stats->get(0, 0)) : std::string();
  const auto bucket_of = [&](const std::string& key) {
    return bounds.empty() ? std::string("0")
                          : fmt::format("width_bucket({}, {}::{}[])", key, pq::quote_literal(bounds), key_type);
  };
  const auto key_src = pq::quote_ident(p.source_columns[key_s]);
  const auto key_dst = pq::quote_ident(p.target_columns[key_t]);
  const auto where = p.mapping != nullptr && p.mapping->where ? " WHERE (" + *p.mapping->where + ")" : std::string();
  const auto sql = [&](const std::vector<std::string>& cols, const std::string& key, const std::string& table,
                       const std::string& filter) {
    // Order-independent (a sum of 64-bit slices of each row's md5), so neither side sorts: one
    // streaming scan and a hash aggregate over the buckets.
    return fmt::format(
        "SELECT {0}, count(*), sum(('x' || left(md5(convert_to(ROW({1})::text, 'UTF8')), 16))::bit(64)::bigint)::text "
        "FROM {2}{3} GROUP BY 1",
        bucket_of(key), fmt::join(cols, ", "), table, filter);
  };
  using Sums = std::map<std::int64_t, std::pair<std::int64_t, std::string>>;
  const auto read = [](pq::Connection& conn, const std::string& q) -> Result<Sums> {
    auto res = conn.exec(q);
    if (!res) return res.take_error();
    Sums out;
    for (int r = 0; r < res->rows(); ++r) {
      out[std::stoll(std::string(res->get(r, 0)))] = {std::stoll(std::string(res->get(r, 1))),
                                                      std::string(res->get(r, 2))};
    }
    return out;
  };
  const auto src_sql = sql(src_cols, key_src, pq::quote_qualified(p.source.schema, p.source.table), where);
  auto src_future = std::async(std::launch::async, [&] { return read(source, src_sql); });
  auto dst = read(target, sql(dst_cols, key_dst, pq::quote_qualified(p.target.schema, p.target.table), ""));
  auto src = src_future.get();
  if (!src) return src.take_error();
  if (!dst) return dst.take_error();
  std::set<std::int64_t> all;
  for (const auto& [b, _] : *src) all.insert(b);
  for (const auto& [b, _] : *dst) all.insert(b);
  std::vector<std::string> differing;
  for (const auto b : all) {
    const auto s = src->find(b);
    const auto d = dst->find(b);
    if (s != src->end() && d != dst->end() && s->second == d->second) {
      pass.source_rows += s->second.first;
      pass.target_rows += d->second.first;
      continue;
    }
    differing.push_back(std::to_string(b));
  }
  pass.used = true;
  pass.buckets = all.size();
  pass.differing = differing.size();
  const auto in = fmt::format(" IN ({})", fmt::join(differing, ", "));
  pass.predicate = differing.empty() ? "false" : bucket_of(key_dst) + in;
  pass.source_filter = differing.empty() ? "false" : bucket_of(key_src) + in;
  return pass;
}

}  // namespace crmsync::daemon::detail
