#include "daemon/sessions.hpp"

#include <fmt/format.h>

namespace crmsync::daemon {
namespace {

std::vector<pq::Setting> unambiguous_text(const std::string& encoding) {
  std::vector<pq::Setting> out{{"datestyle", "ISO"}, {"intervalstyle", "postgres"}, {"extra_float_digits", "3"}};
  if (!encoding.empty()) out.push_back({"client_encoding", encoding});
  return out;
}

}  // namespace

Sessions::Sessions(const config::PipelineConfig& cfg, std::string target_encoding)
    : cfg_(cfg), encoding_(std::move(target_encoding)) {}

pq::ConnectOptions Sessions::source(std::string application_name, pq::ReplicationMode mode) const {
  pq::ConnectOptions o;
  o.dsn = cfg_.source.dsn;
  o.connect_timeout_s = cfg_.source.connect_timeout_s;
  o.replication = mode;
  o.application_name = std::move(application_name);
  o.settings = unambiguous_text(encoding_);
  // As pg_dump does: a legacy role's statement or idle timeouts must not cancel a chunk's COPY
  // or end the transaction that holds a resumed copy's snapshot; a lock wait is LockWatch's to
  // report, not to abort.
  o.settings.push_back({"statement_timeout", "0"});
  o.settings.push_back({"lock_timeout", "0"});
  o.settings.push_back({"idle_in_transaction_session_timeout", "0"});
  return o;
}

pq::ConnectOptions Sessions::target(std::string application_name) const {
  auto o = bare_target_options(cfg_, std::move(application_name));
  o.settings = unambiguous_text(encoding_);
  o.settings.push_back({"synchronous_commit", "on"});
  if (cfg_.target.replication_role == config::ReplicationRole::Replica) {
    o.init_sql.emplace_back(kReplicaRoleSql);
    o.init_advice = replica_role_advice(cfg_.target.dsn);
  }
  return o;
}

pq::ConnectOptions Sessions::apply_target(std::string application_name) const {
  auto o = target(std::move(application_name));
  if (cfg_.apply.synchronous_commit == config::SynchronousCommit::On) return o;
  for (auto& s : o.settings) {
    if (s.name == "synchronous_commit") s.value = "off";
  }
  return o;
}

pq::ConnectOptions bare_target_options(const config::PipelineConfig& cfg, std::string application_name) {
  pq::ConnectOptions o;
  o.dsn = cfg.target.dsn;
  o.connect_timeout_s = cfg.target.connect_timeout_s;
  o.application_name = std::move(application_name);
  o.settings = unambiguous_text("");
  return o;
}

Result<std::string> read_target_encoding(pq::Connection& target) {
  auto res = target.exec("SHOW server_encoding");
  if (!res) return res.take_error();
  return std::string(res->get(0, 0));
}

std::string replica_role_advice(const std::string& target_dsn) {
  const auto user = pq::dsn_keyword(target_dsn, "user").value_or("");
  const auto who = user.empty() ? std::string("<crmsync's target role>") : pq::quote_ident(user);
  return fmt::format(
      "crmsync's target sessions run with session_replication_role = replica, so that foreign keys and ordinary "
      "triggers do not fire for replicated rows (as in PostgreSQL's own logical replication). As a superuser on the "
      "target run: GRANT SET ON PARAMETER session_replication_role TO {}; (PostgreSQL 15+; older servers need a "
      "superuser role), or set target.replication_role: origin (see config/README.md for what that cannot do)",
      who);
}

}  // namespace crmsync::daemon
