#include "support/pipeline.hpp"

#include <fmt/format.h>

namespace crmsync::testing {

PipelineFixture::PipelineFixture(const std::string& label) : source(label + "-src"), target(label + "-tgt") {}

std::string PipelineFixture::write_config(const std::vector<std::string>& tables, const std::string& extra) const {
  std::string list;
  for (const auto& t : tables) list += fmt::format("    - '{}'\n", t);
  // Tests run side by side: any free port for the endpoint (the daemon writes it into
  // state_dir/http.address), unless `extra` has an http section of its own.
  const std::string http = extra.find("http:\n") == std::string::npos ? "http:\n  listen: 127.0.0.1:0\n" : "";
  const auto yaml = fmt::format(R"yaml(name: it_pipeline
state_dir: {}
{}source:
  dsn: "{}"
  tables:
{}target:
  type: postgres
  dsn: "{}"
log:
  level: debug
{})yaml",
                                state_dir(), http, source.dsn(), list, target.dsn(), extra);
  return dir.write("crmsync.yaml", yaml);
}

std::string PipelineFixture::write_config_with(const std::string& source_dsn, const std::string& target_dsn,
                                               const std::vector<std::string>& tables, const std::string& extra) const {
  std::string list;
  for (const auto& t : tables) list += fmt::format("    - '{}'\n", t);
  return dir.write(
      "crmsync.yaml",
      fmt::format(
          "name: it_pipeline\nstate_dir: {}\nhttp:\n  listen: 127.0.0.1:0\nsource:\n  dsn: \"{}\"\n  tables:\n{}"
          "target:\n  dsn: \"{}\"\n{}",
          state_dir(), source_dsn, list, target_dsn, extra));
}

ProcessResult PipelineFixture::crmsync(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{crmsync_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"-c", config_path()});
  return run_process(argv);
}

std::string table_checksum(const PgCluster& cluster, const std::string& qualified_table, const std::string& order_by) {
  return cluster.query_value(fmt::format("SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY {}), '')) FROM {} t",
                                         order_by, qualified_table));
}

std::int64_t row_count(const PgCluster& cluster, const std::string& qualified_table) {
  return std::stoll(cluster.query_value(fmt::format("SELECT count(*) FROM {}", qualified_table)));
}

bool streaming(const PipelineFixture& p) {
  return p.source.query_value("SELECT count(*) FROM pg_stat_replication WHERE application_name = 'crmsync stream'") !=
         "0";
}

}  // namespace crmsync::testing
