// changed_keys: what a config edit changed, for SIGHUP's "needs a restart" report.

#include <doctest/doctest.h>

#include "config/reload_diff.hpp"

namespace crmsync::config::test {

using Keys = std::vector<std::string>;

TEST_CASE("changed_keys: layout, comments, quoting and key order do not count") {
  const auto a = "name: x\nsource:\n  dsn: \"host=a\"\n  tables: [public.t]\napply:\n  linger_us: 1000\n";
  const auto b = "# edited\nsource:\n  tables:\n    - public.t\n  dsn: host=a\nname: 'x'\napply: {linger_us: 1000}\n";
  CHECK(changed_keys(a, b) == Keys{});
}

TEST_CASE("changed_keys: leaves by path, a sequence as one value, added and removed keys") {
  const auto a = "name: x\nsource:\n  dsn: host=a\n  tables: [public.t]\nlog:\n  level: info\n";
  const auto b = "name: x\nsource:\n  dsn: host=b\n  tables: [public.t, public.u]\napply:\n  linger_us: 5\n";
  CHECK(changed_keys(a, b) == Keys{"apply.linger_us", "log.level", "source.dsn", "source.tables"});
  const auto m1 = "mappings:\n  - from: public.t\n    to: public.t2\n";
  const auto m2 = "mappings:\n  - from: public.t\n    to: public.t3\n";
  CHECK(changed_keys(m1, m2) == Keys{"mappings"});
}

}  // namespace crmsync::config::test
