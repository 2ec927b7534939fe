#pragma once
// Every connection crmsync opens is made here, so that each one pins the same session settings,
// as PostgreSQL's own walsender connection (libpqwalreceiver) and apply worker do:
//
// - source (replication, copy, catalog): datestyle=ISO, intervalstyle=postgres,
//   extra_float_digits=3, so that a value's text is unambiguous whatever the legacy database's
//   defaults (a 'SQL, DMY' source otherwise sends 05/03/2024 for 5 March, which a target in MDY
//   reads as 3 May); client_encoding = the target database's encoding, so that the source server
//   converts (a LATIN1 legacy database into a UTF8 target); statement_timeout, lock_timeout and
//   idle_in_transaction_session_timeout are 0, as pg_dump sets them.
// - target (copy, apply, checks): the same three, client_encoding = its own encoding,
//   synchronous_commit=on (the flush position reported to the source must be durable on the
//   target: with the server's `off` a target crash would lose commits the source has already
//   forgotten), and session_replication_role=replica unless target.replication_role is origin.
//   The apply session alone commits with synchronous_commit=off (apply.synchronous_commit), as
//   PostgreSQL's apply worker does: its positions are confirmed only once the target's WAL flush
//   covers them (daemon/flush_gate.hpp).

#include <string>

#include "config/pipeline_config.hpp"
#include "core/result.hpp"
#include "pq/connection.hpp"

namespace crmsync::daemon {

class Sessions {
 public:
  /// `target_encoding`: the target database's server_encoding (see read_target_encoding).
  Sessions(const config::PipelineConfig& cfg, std::string target_encoding);

  [[nodiscard]] pq::ConnectOptions source(std::string application_name,
                                          pq::ReplicationMode mode = pq::ReplicationMode::None) const;
  [[nodiscard]] pq::ConnectOptions target(std::string application_name) const;
  /// The apply session: as target(), with synchronous_commit as apply.synchronous_commit says
  /// (off by default; daemon/flush_gate.hpp says why that is safe).
  [[nodiscard]] pq::ConnectOptions apply_target(std::string application_name) const;
  [[nodiscard]] const std::string& target_encoding() const { return encoding_; }

 private:
  const config::PipelineConfig& cfg_;
  std::string encoding_;
};

/// The pinned settings of a target session before its encoding is known (used to connect once and
/// read it).
pq::ConnectOptions bare_target_options(const config::PipelineConfig& cfg, std::string application_name);

/// SHOW server_encoding on a target connection.
Result<std::string> read_target_encoding(pq::Connection& target);

/// The statement that switches a target session to replica role, and what to do when refused.
inline constexpr const char* kReplicaRoleSql = "SET session_replication_role = replica";
std::string replica_role_advice(const std::string& target_dsn);

}  // namespace crmsync::daemon
