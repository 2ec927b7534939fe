#include <doctest/doctest.h>

#include "cdc/chunks.hpp"

using crmsync::ColumnInfo;
using crmsync::ReplicaIdentity;
using crmsync::TableInfo;

TEST_CASE("tables are chunked by key only when every streamed change carries the key") {
  TableInfo t;
  t.schema = "public";
  t.name = "deals";
  ColumnInfo id;
  id.name = "id";
  id.type = "bigint";
  id.primary_key = true;
  ColumnInfo no;
  no.name = "legacy_no";
  no.type = "integer";
  t.columns = {id, no};
  t.replica_identity = ReplicaIdentity::Default;
  CHECK(crmsync::cdc::integer_key(t) == "id");
  t.replica_identity = ReplicaIdentity::Full;
  CHECK(crmsync::cdc::integer_key(t) == "id");
  // USING INDEX: a DELETE carries only the index's columns, not necessarily the key.
  t.replica_identity = ReplicaIdentity::Index;
  CHECK_FALSE(crmsync::cdc::integer_key(t).has_value());
  t.replica_identity = ReplicaIdentity::Default;
  t.columns[0].type = "text";
  CHECK_FALSE(crmsync::cdc::integer_key(t).has_value());
}
