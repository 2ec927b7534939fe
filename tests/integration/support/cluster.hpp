#pragma once
// A throwaway PostgreSQL 15 cluster for one test, started through scripts/pg-cluster on a free
// port and removed when the object dies, including when the test fails (RAII + a process-exit
// safety net for clusters whose destructor never ran).

#include <string>
#include <vector>

#include "pq/connection.hpp"

namespace crmsync::testing {

class PgCluster {
 public:
  /// `settings` are extra postgresql.conf lines as "key=value" (e.g. "wal_level=replica").
  explicit PgCluster(const std::string& label, const std::vector<std::string>& settings = {});
  ~PgCluster();
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] const std::string& name() const { return name_; }
  /// libpq conninfo for a database on this cluster, as the superuser "postgres".
  [[nodiscard]] std::string dsn(const std::string& dbname = "postgres") const;
  /// Connects (ordinary connection) to a database on this cluster; throws on failure.
  [[nodiscard]] pq::Connection connect(const std::string& dbname = "postgres") const;
  /// Runs SQL (several statements allowed); throws with the server's message on failure.
  void exec(const std::string& sql, const std::string& dbname = "postgres") const;
  /// First column of the first row, as text.
  [[nodiscard]] std::string query_value(const std::string& sql, const std::string& dbname = "postgres") const;

 private:
  std::string name_;
  int port_ = 0;
};

/// Path of a script under the repository's scripts/ folder.
std::string script_path(const std::string& name);
/// Path of the built crmsync binary.
std::string crmsync_binary();

}  // namespace crmsync::testing
