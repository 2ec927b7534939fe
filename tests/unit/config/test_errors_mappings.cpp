// Malformed configs, part 2: table names, mappings, columns, and ${...} interpolation.
// Each case checks the complete list of rendered errors, so a missing or an extra one fails.

#include <doctest/doctest.h>

#include "tests/unit/config/support.hpp"

namespace crmsync::config::test {

TEST_CASE("config error: no tables to replicate") {
  CHECK(errors_with_head("") ==
        Errors{"crmsync.yaml:2:1: source.tables: no tables to replicate: list them in source.tables or add mappings"});
}

TEST_CASE("config error: source.tables is not a list") {
  CHECK(errors_of(R"(name: demo
source: {dsn: host=a, tables: public.contacts}
target: {dsn: host=b}
)") == Errors{"crmsync.yaml:2:31: source.tables: expected a list, got \"public.contacts\""});
}

TEST_CASE("config error: source.tables entry listed twice") {
  CHECK(errors_of(R"(name: demo
source:
  dsn: host=a
  tables: [public.contacts, accounts, contacts]
target: {dsn: host=b}
)") == Errors{"crmsync.yaml:4:39: source.tables[2]: public.contacts is listed twice (first at source.tables[0])"});
}

TEST_CASE("config error: table names with too many parts or empty parts") {
  CHECK(errors_of(R"(name: demo
source:
  dsn: host=a
  tables: [a.b.c, public., .contacts, ""]
target: {dsn: host=b}
)") == Errors{
           "crmsync.yaml:4:12: source.tables[0]: invalid table name \"a.b.c\": expected table or schema.table, got "
           "more than one dot",
           "crmsync.yaml:4:19: source.tables[1]: invalid table name \"public.\": empty table name",
           "crmsync.yaml:4:28: source.tables[2]: invalid table name \".contacts\": empty schema name",
           "crmsync.yaml:4:39: source.tables[3]: invalid table name \"\": expected table or schema.table",
       });
}

TEST_CASE("config error: unquoted uppercase and unterminated quotes in table names") {
  CHECK(errors_with_head(R"(mappings:
  - from: public.Contacts
  - from: '"My Schema.contacts'
  - from: order-lines
)") == Errors{
           "crmsync.yaml:7:11: mappings[0].from: invalid table name \"public.Contacts\": the unquoted table name has "
           "uppercase letters, which PostgreSQL folds to lowercase; write it in lowercase, or in double quotes if "
           "the name really is mixed-case",
           "crmsync.yaml:8:11: mappings[1].from: invalid table name \"\\\"My Schema.contacts\": unterminated double "
           "quote",
           "crmsync.yaml:9:11: mappings[2].from: invalid table name \"order-lines\": an unquoted table name may only "
           "contain a-z, 0-9, _ and $ and must not start with a digit; write other names in double quotes",
       });
}

TEST_CASE("config error: mappings is not a list, and an entry is not a mapping") {
  CHECK(errors_with_head("mappings: {from: contacts}\n") ==
        Errors{"crmsync.yaml:6:11: mappings: expected a list, got a mapping"});
  CHECK(errors_with_head("mappings:\n  - contacts\n") ==
        Errors{"crmsync.yaml:7:5: mappings[0]: expected a mapping, got \"contacts\""});
}

TEST_CASE("config error: mapping without from") {
  CHECK(errors_with_head(R"(mappings:
  - to: crm.people
    on_invalid: skip
)") == Errors{"crmsync.yaml:7:5: mappings[0]: missing required key \"from\""});
}

TEST_CASE("config error: the same source table mapped twice") {
  CHECK(errors_with_head(R"(mappings:
  - from: public.contacts
    to: crm.people
  - from: accounts
  - from: contacts
    to: crm.people_v2
)") == Errors{"crmsync.yaml:10:11: mappings[2].from: public.contacts is already mapped by mappings[0]"});
}

TEST_CASE("config error: two mappings into one target table") {
  CHECK(errors_with_head(R"(mappings:
  - from: contacts
    to: crm.people
  - from: leads
    to: crm.people
  - from: crm.people
)") == Errors{
           "crmsync.yaml:10:9: mappings[1].to: crm.people is already the target of mappings[0]",
           "crmsync.yaml:11:11: mappings[2].from: crm.people is already the target of mappings[0] (without \"to\", "
           "a mapping writes to the table of the same name)",
       });
}

TEST_CASE("config error: mapping of a table that source.tables leaves out") {
  CHECK(errors_of(R"(name: demo
source:
  dsn: host=a
  tables: [public.accounts]
target: {dsn: host=b}
mappings:
  - from: public.contacts
)") == Errors{"crmsync.yaml:7:11: mappings[0].from: public.contacts is not in source.tables, so this mapping would "
              "never be used"});
}

TEST_CASE("config error: mapping target collides with a table copied as-is") {
  CHECK(errors_of(R"(name: demo
source:
  dsn: host=a
  tables: [contacts, people]
target: {dsn: host=b}
mappings:
  - from: contacts
    to: people
)") == Errors{"crmsync.yaml:8:9: mappings[0].to: public.people is also the target of source.tables[1], which has no "
              "mapping and is copied as-is"});
}

TEST_CASE("config error: unknown mapping key and on_invalid value") {
  CHECK(errors_with_head(R"(mappings:
  - from: contacts
    colums: {id: legacy_id}
    on_invalid: dead-letter
)") == Errors{
           "crmsync.yaml:8:5: mappings[0]: unknown key \"colums\" (did you mean \"columns\"?)",
           "crmsync.yaml:9:17: mappings[0].on_invalid: unknown on_invalid policy \"dead-letter\" (did you mean "
           "\"dead_letter\"?)",
       });
}

TEST_CASE("config error: unknown transforms, in a list and alone") {
  CHECK(errors_with_head(R"(mappings:
  - from: contacts
    columns:
      email: {transform: [trim, lowercase, titlecase]}
      phone: {transform: strip_nondigits}
)") == Errors{
           "crmsync.yaml:9:33: mappings[0].columns.email.transform[1]: unknown transform \"lowercase\" (did you "
           "mean \"lower\"?)",
           "crmsync.yaml:9:44: mappings[0].columns.email.transform[2]: unknown transform \"titlecase\" (expected "
           "one of: trim, lower, upper, null_if_empty, strip_non_digits, e164, map, cast, truncate, date_format)",
           "crmsync.yaml:10:26: mappings[0].columns.phone.transform: unknown transform \"strip_nondigits\" (did "
           "you mean \"strip_non_digits\"?)",
       });
}

TEST_CASE("config error: transform of the wrong type and unknown validator") {
  CHECK(errors_with_head(R"(mappings:
  - from: contacts
    columns:
      email:
        transform: {name: lower, order: 1}
        validate: mail_address
)") == Errors{
           "crmsync.yaml:10:20: mappings[0].columns.email.transform: expected a transform or a list of transforms, "
           "got a mapping",
           "crmsync.yaml:11:19: mappings[0].columns.email.validate: unknown validator \"mail_address\" (expected "
           "one of: not_null, email, phone, uuid, regex, max_length, one_of, range)",
       });
}

TEST_CASE("config error: two columns mapped to the same target column") {
  CHECK(errors_with_head(R"(mappings:
  - from: contacts
    columns:
      mail: email
      email_address: {to: email}
      email: {transform: trim}
)") == Errors{
           "crmsync.yaml:10:27: mappings[0].columns.email_address.to: target column \"email\" is also written by "
           "mappings[0].columns.mail",
           "crmsync.yaml:11:14: mappings[0].columns.email: target column \"email\" is also written by "
           "mappings[0].columns.mail",
       });
}

TEST_CASE("config error: a column both excluded and mapped, and excluded twice") {
  CHECK(errors_with_head(R"(mappings:
  - from: contacts
    columns:
      ssn: tax_id
    exclude: [notes, ssn, notes]
)") == Errors{
           "crmsync.yaml:10:22: mappings[0].exclude[1]: column \"ssn\" is both excluded and mapped (at "
           "mappings[0].columns.ssn)",
           "crmsync.yaml:10:27: mappings[0].exclude[2]: column \"notes\" is listed twice (first at "
           "mappings[0].exclude[0])",
       });
}

TEST_CASE("config error: a target key that is empty or names a column twice") {
  CHECK(errors_with_head(R"(mappings:
  - from: contacts
    key: [source_system, legacy_id, source_system]
  - from: deals
    key: []
)") == Errors{
           "crmsync.yaml:8:37: mappings[0].key[2]: column \"source_system\" is listed twice (first at "
           "mappings[0].key[0])",
           "crmsync.yaml:10:10: mappings[1].key: list at least one target column",
       });
}

TEST_CASE("config error: column value of the wrong type and empty target") {
  CHECK(errors_with_head(R"(mappings:
  - from: contacts
    columns:
      tags: [a, b]
      notes: ""
      exclude: [x]
)") == Errors{
           "crmsync.yaml:9:13: mappings[0].columns.tags: expected a target column name or a mapping, got a list",
           "crmsync.yaml:10:14: mappings[0].columns.notes: must not be empty",
           "crmsync.yaml:11:16: mappings[0].columns.exclude: expected a target column name or a mapping, got a list",
       });
}

TEST_CASE("config error: lookup with missing and misspelt keys") {
  CHECK(errors_with_head(R"(mappings:
  - from: contacts
    columns:
      account_id:
        to: company_id
        lookup: {table: crm.companies, mach: legacy_id}
)") == Errors{
           "crmsync.yaml:11:9: mappings[0].columns.account_id.lookup: missing required key \"match\"",
           "crmsync.yaml:11:9: mappings[0].columns.account_id.lookup: missing required key \"take\"",
           "crmsync.yaml:11:40: mappings[0].columns.account_id.lookup: unknown key \"mach\" (did you mean "
           "\"match\"?)",
       });
}

TEST_CASE("config error: unset environment variable is named") {
  CHECK(errors_of(R"(name: demo
source:
  dsn: "host=legacy password=${LEGACY_PASSWORD}"
  tables: [t]
target: {dsn: "${TARGET_DSN}"}
)") == Errors{
           "crmsync.yaml:3:8: source.dsn: environment variable \"LEGACY_PASSWORD\" is not set",
           "crmsync.yaml:5:15: target.dsn: environment variable \"TARGET_DSN\" is not set",
       });
}

TEST_CASE("config error: unreadable secret file is named") {
  CHECK(errors_of(R"(name: demo
source: {dsn: "password=${file:/run/secrets/legacy}", tables: [t]}
target: {dsn: "password=${file:secrets/new}"}
)") == Errors{
           "crmsync.yaml:2:15: source.dsn: cannot read secret file \"/run/secrets/legacy\"",
           "crmsync.yaml:3:15: target.dsn: secret file path \"secrets/new\" must be absolute",
       });
}

TEST_CASE("config error: malformed ${...}") {
  CHECK(errors_of(R"(name: demo
source: {dsn: "password=${PW", tables: [t]}
target: {dsn: "password=${} ${BAD-NAME}"}
)") == Errors{
           "crmsync.yaml:2:15: source.dsn: unterminated \"${\" (write \"$${\" for a literal \"${\")",
           "crmsync.yaml:3:15: target.dsn: empty variable name in \"${}\"",
           "crmsync.yaml:3:15: target.dsn: invalid variable name \"BAD-NAME\" in \"${...}\": use letters, digits "
           "and underscores, or \"${file:/path}\"",
       });
}

TEST_CASE("config error: interpolated values never appear in messages") {
  const Fakes fakes{{{"PARALLEL", "s3cr3t-parallel"}, {"LOG_LEVEL", "s3cr3t-level"}, {"EMPTY", ""}},
                    {{"/run/secrets/name", "S3cr3t-Name\n"}}};
  const Errors errors = errors_of(R"(name: ${file:/run/secrets/name}
source: {dsn: "${EMPTY}", tables: [t]}
target: {dsn: host=b}
snapshot: {parallel: "${PARALLEL}"}
log: {level: "${LOG_LEVEL}"}
)",
                                  fakes);
  CHECK(errors == Errors{
                      "crmsync.yaml:1:7: name: invalid name \"${file:/run/secrets/name}\": use only lowercase letters, "
                      "digits and underscores ([a-z0-9_]+)",
                      "crmsync.yaml:2:15: source.dsn: \"${EMPTY}\" expands to an empty string",
                      "crmsync.yaml:4:22: snapshot.parallel: expected an integer, got \"${PARALLEL}\"",
                      "crmsync.yaml:5:14: log.level: unknown log level \"${LOG_LEVEL}\" (expected one of: trace, "
                      "debug, info, warn, error)",
                  });
  for (const std::string& e : errors) {
    CHECK(e.find("s3cr3t") == std::string::npos);
    CHECK(e.find("S3cr3t") == std::string::npos);
  }
}

}  // namespace crmsync::config::test
