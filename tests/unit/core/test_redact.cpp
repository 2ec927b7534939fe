#include <doctest/doctest.h>

#include "core/redact.hpp"

using crmsync::redact_dsn;

TEST_CASE("redact_dsn masks passwords in key=value strings") {
  CHECK(redact_dsn("host=db user=crm password=s3cret dbname=crm") == "host=db user=crm password=******** dbname=crm");
  CHECK(redact_dsn("password = 's3 cr\\'et' host=db") == "password = ******** host=db");
  CHECK(redact_dsn("PASSWORD=x sslpassword=y") == "PASSWORD=******** sslpassword=********");
  CHECK(redact_dsn("host=db dbname=crm") == "host=db dbname=crm");
  CHECK(redact_dsn("password=") == "password=********");
}

TEST_CASE("redact_dsn masks passwords in URIs") {
  CHECK(redact_dsn("postgresql://crm:s3cret@db:5432/crm") == "postgresql://crm:********@db:5432/crm");
  CHECK(redact_dsn("postgres://crm@db/crm?sslmode=require&password=s3cret") ==
        "postgres://crm@db/crm?sslmode=require&password=********");
  CHECK(redact_dsn("postgresql://db/crm") == "postgresql://db/crm");
  CHECK(redact_dsn("postgresql://u:p%40ss@db/crm?password=x&application_name=a") ==
        "postgresql://u:********@db/crm?password=********&application_name=a");
}
