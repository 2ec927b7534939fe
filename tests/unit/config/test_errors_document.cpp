// Malformed configs, part 1: the document, keys, types, required keys, names, numbers, enums.
// Each case checks the complete list of rendered errors, so a missing or an extra one fails.

#include <doctest/doctest.h>

#include "tests/unit/config/support.hpp"

namespace crmsync::config::test {

TEST_CASE("config error: YAML syntax error reports yaml-cpp's position") {
  CHECK(errors_of("name: demo\nsource: [a, b\ntarget: x\n") ==
        Errors{"crmsync.yaml:3:7: invalid YAML: end of sequence flow not found"});
}

TEST_CASE("config error: a key and a value on one line") {
  CHECK(errors_of("name: demo\nsource: dsn: host=a\n") == Errors{"crmsync.yaml:2:12: invalid YAML: illegal map value"});
}

TEST_CASE("config error: empty document") {
  CHECK(errors_of("") == Errors{"crmsync.yaml:1:1: the configuration is empty"});
  CHECK(errors_of("# only a comment\n\n") == Errors{"crmsync.yaml:1:1: the configuration is empty"});
}

TEST_CASE("config error: top level is a list") {
  CHECK(errors_of("- name: demo\n") == Errors{"crmsync.yaml:1:1: expected a mapping at the top level, got a list"});
}

TEST_CASE("config error: top level is a scalar") {
  CHECK(errors_of("hello\n") == Errors{"crmsync.yaml:1:1: expected a mapping at the top level, got \"hello\""});
}

TEST_CASE("config error: two YAML documents") {
  CHECK(
      errors_of("name: a\n---\nname: b\n") ==
      Errors{"crmsync.yaml:2:1: expected a single YAML document; a second one starts here (remove the extra \"---\")"});
}

TEST_CASE("config error: a stray comma where a document should start (yaml-cpp 0.7 would loop forever)") {
  CHECK(errors_of(",name: demo\n") == Errors{"crmsync.yaml:1:1: invalid YAML: unexpected \",\""});
  CHECK(errors_of("# header\n---\n  ,\n") == Errors{"crmsync.yaml:3:3: invalid YAML: unexpected \",\""});
  CHECK(
      errors_of("name: a\n---\n,\n") ==
      Errors{"crmsync.yaml:2:1: expected a single YAML document; a second one starts here (remove the extra \"---\")"});
}

TEST_CASE("config error: unknown key with a suggestion") {
  CHECK(errors_of(R"(name: demo
source:
  dsn: host=a
  tabels: [public.contacts]
target:
  dsn: host=b
mappings:
  - from: public.contacts
)") == Errors{"crmsync.yaml:4:3: source: unknown key \"tabels\" (did you mean \"tables\"?)"});
}

TEST_CASE("config error: unknown key without a close match lists the known ones") {
  CHECK(errors_of(R"(name: demo
colour: blue
source: {dsn: host=a, tables: [t]}
target: {dsn: host=b}
)") == Errors{"crmsync.yaml:2:1: unknown key \"colour\" (expected one of: name, state_dir, source, target, snapshot, "
              "apply, cutover, http, log, mappings)"});
}

TEST_CASE("config error: duplicate key") {
  CHECK(errors_of(R"(name: demo
source: {dsn: host=a, tables: [t]}
target: {dsn: host=b}
name: other
)") == Errors{"crmsync.yaml:4:1: duplicate key \"name\" (first at line 1)"});
}

TEST_CASE("config error: missing name, source and target are all reported") {
  CHECK(errors_of("state_dir: /srv/x\n") == Errors{
                                                "crmsync.yaml:1:1: missing required key \"name\"",
                                                "crmsync.yaml:1:1: missing required key \"source\"",
                                                "crmsync.yaml:1:1: missing required key \"target\"",
                                            });
}

TEST_CASE("config error: missing source.dsn and target.dsn") {
  CHECK(errors_of(R"(name: demo
source:
  tables: [public.contacts]
target:
  type: postgres
)") == Errors{
           "crmsync.yaml:2:1: source: missing required key \"dsn\"",
           "crmsync.yaml:4:1: target: missing required key \"dsn\"",
       });
}

TEST_CASE("config error: section that is not a mapping") {
  CHECK(errors_of(R"(name: demo
source: host=a
target:
snapshot: [1, 2]
)") == Errors{
           "crmsync.yaml:2:9: source: expected a mapping, got \"host=a\"",
           "crmsync.yaml:3:1: target: expected a mapping, got null",
           "crmsync.yaml:4:11: snapshot: expected a mapping, got a list",
       });
}

TEST_CASE("config error: empty dsn") {
  CHECK(errors_of(R"(name: demo
source: {dsn: "", tables: [t]}
target: {dsn: host=b}
)") == Errors{"crmsync.yaml:2:15: source.dsn: must not be empty"});
}

TEST_CASE("config error: name with illegal characters") {
  CHECK(errors_of(R"(name: Legacy-CRM
source: {dsn: host=a, tables: [t]}
target: {dsn: host=b}
)") == Errors{"crmsync.yaml:1:7: name: invalid name \"Legacy-CRM\": use only lowercase letters, digits and "
              "underscores ([a-z0-9_]+)"});
}

TEST_CASE("config error: name longer than 48 characters") {
  CHECK(errors_of(R"(name: a_very_long_pipeline_name_that_goes_on_and_on_and
source: {dsn: host=a, tables: [t]}
target: {dsn: host=b}
)") == Errors{"crmsync.yaml:1:7: name: name is 49 characters long; at most 48 are allowed (it prefixes "
              "replication slot and publication names, which PostgreSQL limits to 63)"});
}

TEST_CASE("config error: invalid slot and publication names") {
  CHECK(errors_of(R"(name: demo
source:
  dsn: host=a
  tables: [t]
  slot: My-Slot
  publication: p234567890123456789012345678901234567890123456789012345678901234
target: {dsn: host=b}
)") == Errors{
           "crmsync.yaml:5:9: source.slot: invalid slot name \"My-Slot\": use only lowercase letters, digits and "
           "underscores ([a-z0-9_]+)",
           "crmsync.yaml:6:16: source.publication: publication name is 64 characters long; at most 63 are allowed",
       });
}

TEST_CASE("config error: relative state_dir") {
  CHECK(errors_of(R"(name: demo
state_dir: var/crmsync
source: {dsn: host=a, tables: [t]}
target: {dsn: host=b}
)") == Errors{"crmsync.yaml:2:12: state_dir: must be an absolute path, got \"var/crmsync\""});
}

TEST_CASE("config error: not an integer") {
  CHECK(errors_of(R"(name: demo
source: {dsn: host=a, tables: [t], connect_timeout_s: [5]}
target: {dsn: host=b}
snapshot:
  parallel: abc
  chunk_rows: 1.5e6
)") == Errors{
           "crmsync.yaml:2:55: source.connect_timeout_s: expected an integer, got a list",
           "crmsync.yaml:5:13: snapshot.parallel: expected an integer, got \"abc\"",
           "crmsync.yaml:6:15: snapshot.chunk_rows: expected an integer, got \"1.5e6\"",
       });
}

TEST_CASE("config error: integers out of range") {
  CHECK(errors_of(R"(name: demo
source: {dsn: host=a, tables: [t], connect_timeout_s: 0}
target: {dsn: host=b, connect_timeout_s: 3601}
snapshot: {parallel: 65, chunk_rows: 999}
apply: {max_batch_delay_ms: 60001, linger_us: -1}
)") == Errors{
           "crmsync.yaml:2:55: source.connect_timeout_s: must be between 1 and 3600, got 0",
           "crmsync.yaml:3:42: target.connect_timeout_s: must be between 1 and 3600, got 3601",
           "crmsync.yaml:4:22: snapshot.parallel: must be between 1 and 64, got 65",
           "crmsync.yaml:4:38: snapshot.chunk_rows: must be at least 1000, got 999",
           "crmsync.yaml:5:29: apply.max_batch_delay_ms: must be between 0 and 60000, got 60001",
           "crmsync.yaml:5:47: apply.linger_us: must be between 0 and 1000000, got -1",
       });
}

TEST_CASE("config error: integers beyond 64 bits") {
  CHECK(errors_of(R"(name: demo
source: {dsn: host=a, tables: [t]}
target: {dsn: host=b}
snapshot:
  parallel: -99999999999999999999
  chunk_rows: 99999999999999999999
)") == Errors{
           "crmsync.yaml:5:13: snapshot.parallel: must be between 1 and 64, got -99999999999999999999",
           "crmsync.yaml:6:15: snapshot.chunk_rows: must be at most 9223372036854775807, got 99999999999999999999",
       });
}

TEST_CASE("config error: not a boolean") {
  CHECK(errors_of(R"(name: demo
source: {dsn: host=a, tables: [t]}
target: {dsn: host=b, create_tables: maybe}
)") == Errors{"crmsync.yaml:3:38: target.create_tables: expected true or false, got \"maybe\""});
}

TEST_CASE("config error: unknown target type") {
  CHECK(errors_of(R"(name: demo
source: {dsn: host=a, tables: [t]}
target: {type: mysql, dsn: host=b}
)") == Errors{"crmsync.yaml:3:16: target.type: unknown target type \"mysql\" (expected one of: postgres)"});
}

TEST_CASE("config error: unknown log format and level") {
  CHECK(errors_of(R"(name: demo
source: {dsn: host=a, tables: [t]}
target: {dsn: host=b}
log:
  format: jsno
  level: verbose
)") == Errors{
           "crmsync.yaml:5:11: log.format: unknown log format \"jsno\" (did you mean \"json\"?)",
           "crmsync.yaml:6:10: log.level: unknown log level \"verbose\" (expected one of: trace, debug, info, warn, "
           "error)",
       });
}

TEST_CASE("config error: log level \"warning\" suggests \"warn\"") {
  CHECK(errors_of(R"(name: demo
source: {dsn: host=a, tables: [t]}
target: {dsn: host=b}
log: {level: warning}
)") == Errors{"crmsync.yaml:4:14: log.level: unknown log level \"warning\" (did you mean \"warn\"?)"});
}

TEST_CASE("config error: unknown key inside a nested section suggests") {
  CHECK(errors_of(R"(name: demo
source: {dsn: host=a, tables: [t]}
target: {dsn: host=b}
snapshot:
  paralel: 4
apply:
  max_batch_delay: 10
)") == Errors{
           "crmsync.yaml:5:3: snapshot: unknown key \"paralel\" (did you mean \"parallel\"?)",
           "crmsync.yaml:7:3: apply: unknown key \"max_batch_delay\" (did you mean \"max_batch_delay_ms\"?)",
       });
}

TEST_CASE("config error: more than four problems in one document are all reported") {
  CHECK(errors_of(R"(name: Demo
source:
  dsn: host=a
  tabels: [public.contacts]
target:
  type: postgress
snapshot:
  parallel: 0
log:
  format: xml
mappings:
  - from: public.contacts
    columns:
      email: {transform: lowr, validate: emial}
)") == Errors{
           "crmsync.yaml:1:7: name: invalid name \"Demo\": use only lowercase letters, digits and underscores "
           "([a-z0-9_]+)",
           "crmsync.yaml:4:3: source: unknown key \"tabels\" (did you mean \"tables\"?)",
           "crmsync.yaml:5:1: target: missing required key \"dsn\"",
           "crmsync.yaml:6:9: target.type: unknown target type \"postgress\" (did you mean \"postgres\"?)",
           "crmsync.yaml:8:13: snapshot.parallel: must be between 1 and 64, got 0",
           "crmsync.yaml:10:11: log.format: unknown log format \"xml\" (expected one of: text, json)",
           "crmsync.yaml:14:26: mappings[0].columns.email.transform: unknown transform \"lowr\" (did you mean "
           "\"lower\"?)",
           "crmsync.yaml:14:42: mappings[0].columns.email.validate: unknown validator \"emial\" (did you mean "
           "\"email\"?)",
       });
}

}  // namespace crmsync::config::test
