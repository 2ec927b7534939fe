// Valid configs: every field parsed, defaults filled in, ${...} expanded; and the file entry points.

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "pq/connection.hpp"
#include "tests/unit/config/support.hpp"

namespace crmsync::config::test {

namespace {

constexpr std::string_view kFull = R"(# every key, none left to its default
name: legacy_to_newcrm
state_dir: /srv/crmsync/legacy
source:
  dsn: "host=legacy-db dbname=crm user=crmsync password=${LEGACY_PASSWORD}"
  tables: [public.accounts, public.contacts, audit.events]
  slot: legacy_slot
  publication: legacy_pub
  connect_timeout_s: 30
  receive_timeout_s: 20
target:
  type: postgres
  dsn: "host=newcrm-db dbname=crm user=crmsync password=${file:/run/secrets/newcrm}"
  create_tables: true
  connect_timeout_s: 5
snapshot:
  parallel: 8
  truncate_target: yes
  chunk_rows: 250000
apply:
  max_batch_delay_ms: 0
  linger_us: 250
  max_batch_bytes: 1048576
  compact: false
  synchronous_commit: on
log:
  format: json
  level: debug
mappings:
  - from: public.contacts
    to: crm.people
    columns:
      id: legacy_id
      email: {to: email, transform: [trim, lower], validate: email}
      phone: {transform: strip_non_digits, validate: phone}
      account_id: {to: company_id, lookup: {table: crm.companies, match: legacy_id, take: id}}
    exclude: [ssn, notes]
    where: "deleted_at IS NULL"
    on_invalid: skip
  - from: accounts
    to: crm.companies
    on_invalid: halt
)";

const Fakes kSecrets{{{"LEGACY_PASSWORD", "pw1"}}, {{"/run/secrets/newcrm", "pw2\n"}}};

}  // namespace

TEST_CASE("config: a full config is parsed into every field") {
  const LoadResult r = load(kFull, kSecrets);
  REQUIRE(r.errors.empty());
  REQUIRE(r.config.has_value());
  const PipelineConfig& c = *r.config;
  CHECK(c.name == "legacy_to_newcrm");
  CHECK(c.state_dir == "/srv/crmsync/legacy");

  CHECK(c.source.dsn == "host=legacy-db dbname=crm user=crmsync password=pw1");
  CHECK(c.source.tables == std::vector<TableName>{{"public", "accounts"}, {"public", "contacts"}, {"audit", "events"}});
  CHECK(c.source.slot == "legacy_slot");
  CHECK(c.source.publication == "legacy_pub");
  CHECK(c.source.connect_timeout_s == 30);
  CHECK(c.source.receive_timeout_s == 20);

  CHECK(c.target.type == TargetType::Postgres);
  CHECK(c.target.dsn == "host=newcrm-db dbname=crm user=crmsync password=pw2");
  CHECK(c.target.create_tables);
  CHECK(c.target.connect_timeout_s == 5);

  CHECK(c.snapshot.parallel == 8);
  CHECK(c.snapshot.truncate_target);
  CHECK(c.snapshot.chunk_rows == 250000);
  CHECK(c.apply.max_batch_delay_ms == 0);
  CHECK(c.apply.linger_us == 250);
  CHECK(c.apply.max_batch_bytes == 1048576);
  CHECK_FALSE(c.apply.compact);
  CHECK(c.apply.synchronous_commit == SynchronousCommit::On);
  CHECK(c.log.format == LogFormat::Json);
  CHECK(c.log.level == LogLevel::Debug);

  REQUIRE(c.mappings.size() == 2);
  const Mapping& m = c.mappings[0];
  CHECK(m.from == TableName{"public", "contacts"});
  CHECK(m.to == TableName{"crm", "people"});
  CHECK(m.exclude == std::vector<std::string>{"ssn", "notes"});
  CHECK(m.where == "deleted_at IS NULL");
  CHECK(m.on_invalid == OnInvalid::Skip);
  REQUIRE(m.columns.size() == 4);
  CHECK(m.columns.at("id").to == "legacy_id");
  CHECK(m.columns.at("id").transform.empty());
  CHECK(m.columns.at("id").validate.empty());
  CHECK(m.columns.at("email").to == "email");
  CHECK(m.columns.at("email").transform ==
        std::vector<Transform>{Transform::of(TransformKind::Trim), Transform::of(TransformKind::Lower)});
  CHECK(m.columns.at("email").validate == std::vector<Validator>{Validator::of(ValidatorKind::Email)});
  CHECK(m.columns.at("phone").to == "phone");  // `to` defaults to the source column
  CHECK(m.columns.at("phone").transform == std::vector<Transform>{Transform::of(TransformKind::StripNonDigits)});
  CHECK(m.columns.at("phone").validate == std::vector<Validator>{Validator::of(ValidatorKind::Phone)});
  const ColumnMapping& account = m.columns.at("account_id");
  CHECK(account.to == "company_id");
  REQUIRE(account.lookup.has_value());
  CHECK(account.lookup->table == TableName{"crm", "companies"});
  CHECK(account.lookup->match == "legacy_id");
  CHECK(account.lookup->take == "id");

  const Mapping& a = c.mappings[1];
  CHECK(a.from == TableName{"public", "accounts"});
  CHECK(a.to == TableName{"crm", "companies"});
  CHECK(a.on_invalid == OnInvalid::Halt);
  CHECK_FALSE(a.where.has_value());

  CHECK(c.mapping_for({"public", "contacts"}) == &c.mappings[0]);
  CHECK(c.mapping_for({"public", "accounts"}) == &c.mappings[1]);
  CHECK(c.mapping_for({"audit", "events"}) == nullptr);
}

TEST_CASE("config: defaults for everything that may be omitted") {
  const LoadResult r = load(R"(name: crm
source: {dsn: host=a}
target: {dsn: host=b}
mappings:
  - from: contacts
    columns:
      email: {}
  - from: sales.orders
)");
  REQUIRE(r.errors.empty());
  const PipelineConfig& c = *r.config;
  CHECK(c.state_dir == "/var/lib/crmsync/crm");
  CHECK(c.source.slot == "crmsync_crm");
  CHECK(c.source.publication == "crmsync_crm");
  CHECK(c.source.tables == std::vector<TableName>{{"public", "contacts"}, {"sales", "orders"}});
  CHECK(c.source.connect_timeout_s == 10);
  CHECK(c.source.receive_timeout_s == 60);
  CHECK(c.target.type == TargetType::Postgres);
  CHECK_FALSE(c.target.create_tables);
  CHECK(c.target.connect_timeout_s == 10);
  CHECK(c.snapshot.parallel == 2);
  CHECK_FALSE(c.snapshot.truncate_target);
  CHECK(c.snapshot.chunk_rows == 1'000'000);
  CHECK(c.apply.max_batch_delay_ms == 50);
  CHECK(c.apply.linger_us == 1000);
  CHECK(c.apply.max_batch_bytes == 16 * 1024 * 1024);
  CHECK(c.apply.compact);
  CHECK(c.apply.synchronous_commit == SynchronousCommit::Off);
  CHECK(c.log.format == LogFormat::Text);
  CHECK(c.log.level == LogLevel::Info);
  REQUIRE(c.mappings.size() == 2);
  CHECK(c.mappings[0].to == TableName{"public", "contacts"});
  CHECK(c.mappings[0].on_invalid == OnInvalid::DeadLetter);
  CHECK(c.mappings[0].columns.at("email").to == "email");
  CHECK(c.mappings[0].exclude.empty());
  CHECK(c.mappings[1].to == TableName{"sales", "orders"});
}

TEST_CASE("config: source.tables without mappings copies tables as-is") {
  const LoadResult r = load("name: x\nsource: {dsn: a, tables: [accounts, \"crm.notes\"]}\ntarget: {dsn: b}\n");
  REQUIRE(r.errors.empty());
  CHECK(r.config->source.tables == std::vector<TableName>{{"public", "accounts"}, {"crm", "notes"}});
  CHECK(r.config->mappings.empty());
  CHECK(r.config->mapping_for({"public", "accounts"}) == nullptr);
}

TEST_CASE("config: quoted table names keep their text without quotes") {
  const LoadResult r = load(R"(name: x
source: {dsn: a}
target: {dsn: b}
mappings:
  - from: '"My Schema"."Order Lines"'
    to: '"Sales"."say ""hi"""'
  - from: '"Contacts"'
)");
  REQUIRE(r.errors.empty());
  CHECK(r.config->mappings[0].from == TableName{"My Schema", "Order Lines"});
  CHECK(r.config->mappings[0].to == TableName{"Sales", "say \"hi\""});
  CHECK(r.config->mappings[1].from == TableName{"public", "Contacts"});
}

TEST_CASE("config: ${VAR} interpolation from the environment") {
  const Fakes fakes{{{"PW", "p@ss word"}, {"HOST", "db1"}, {"PAR", "16"}, {"EMPTY", ""}}, {}};
  const LoadResult r = load(R"(name: x
source: {dsn: "host=${HOST} password='${PW}'", tables: [t]}
target: {dsn: "host=${HOST}${EMPTY}-b"}
snapshot: {parallel: "${PAR}"}
)",
                            fakes);
  REQUIRE(r.errors.empty());
  // Spliced into a connection string, a value is escaped so that libpq reads it back exactly.
  CHECK(r.config->source.dsn == R"(host=db1 password='p@ss\ word')");
  CHECK(crmsync::pq::dsn_keyword(r.config->source.dsn, "password") == "p@ss word");
  CHECK(r.config->target.dsn == "host=db1-b");
  CHECK(r.config->snapshot.parallel == 16);
}

TEST_CASE("config: ${file:/path} reads a secret file and strips one trailing newline") {
  const Fakes fakes{{},
                    {{"/run/secrets/a", "alpha\n"}, {"/run/secrets/b", "beta\n\n"}, {"/run/secrets/c", "gamma\r\n"}}};
  const LoadResult r = load(R"(name: x
source: {dsn: "${file:/run/secrets/a}|${file:/run/secrets/b}", tables: [t]}
target: {dsn: "${file:/run/secrets/c}"}
)",
                            fakes);
  REQUIRE(r.errors.empty());
  CHECK(r.config->source.dsn == "alpha|beta\\\n");  // the newline kept, escaped for libpq
  CHECK(r.config->target.dsn == "gamma");
}

TEST_CASE("config: $$ is a literal dollar and a lone $ needs no escape") {
  const LoadResult r = load(R"(name: x
source: {dsn: "password=pa$word$${NOT_A_VAR}$", tables: [t]}
target: {dsn: "password=$$"}
)");
  REQUIRE(r.errors.empty());
  CHECK(r.config->source.dsn == "password=pa$word${NOT_A_VAR}$");
  CHECK(r.config->target.dsn == "password=$");
}

TEST_CASE("config: an expanded value is not expanded again") {
  const LoadResult r =
      load("name: x\nsource: {dsn: \"${A}\", tables: [t]}\ntarget: {dsn: b}\n", Fakes{{{"A", "${B}"}}, {}});
  REQUIRE(r.errors.empty());
  CHECK(r.config->source.dsn == "${B}");
}

TEST_CASE("config: errors render without position or path when they have none") {
  CHECK(ConfigError{"f.yaml", 0, 0, "", "gone"}.to_string() == "f.yaml: gone");
  CHECK(ConfigError{"f.yaml", 3, 4, "", "bad"}.to_string() == "f.yaml:3:4: bad");
  CHECK(ConfigError{"f.yaml", 3, 4, "a.b", "bad"}.to_string() == "f.yaml:3:4: a.b: bad");
}

TEST_CASE("config: load_config_file reads a file and names it in errors") {
  const auto dir = std::filesystem::temp_directory_path() / "crmsync-config-test";
  std::filesystem::create_directories(dir);
  const std::string good = (dir / "good.yaml").string();
  const std::string bad = (dir / "bad.yaml").string();
  std::ofstream(good) << "name: x\nsource: {dsn: a, tables: [t]}\ntarget: {dsn: b}\n";
  std::ofstream(bad) << "name: x\nsource: {dsn: a, tables: [t]}\ntarget: {dsn: b}\nlog: {level: loud}\n";
  const auto env = fake_env({});
  const auto files = fake_files({});

  const LoadResult ok = load_config_file(good, env, files);
  CHECK(ok.errors.empty());
  CHECK(ok.config.has_value());

  const LoadResult wrong = load_config_file(bad, env, files);
  REQUIRE(wrong.errors.size() == 1);
  CHECK(wrong.errors[0].to_string() ==
        bad + ":4:14: log.level: unknown log level \"loud\" (expected one of: trace, debug, info, warn, error)");

  const std::string missing = (dir / "missing.yaml").string();
  const LoadResult gone = load_config_file(missing, env, files);
  CHECK_FALSE(gone.config.has_value());
  REQUIRE(gone.errors.size() == 1);
  CHECK(gone.errors[0].line == 0);
  CHECK(gone.errors[0].to_string() == missing + ": cannot read the configuration file: No such file or directory");

  const LoadResult folder = load_config_file(dir.string(), env, files);
  REQUIRE(folder.errors.size() == 1);
  CHECK(folder.errors[0].to_string() == dir.string() + ": cannot read the configuration file: Is a directory");
  std::filesystem::remove_all(dir);
}

TEST_CASE("config: process_env and filesystem_reader use the real environment and files") {
  const auto dir = std::filesystem::temp_directory_path() / "crmsync-config-env-test";
  std::filesystem::create_directories(dir);
  const std::string secret = (dir / "secret").string();
  std::ofstream(secret) << "from-a-file\n";
  ::setenv("CRMSYNC_CONFIG_TEST_VAR", "from-env", 1);
  ::unsetenv("CRMSYNC_CONFIG_TEST_UNSET");

  CHECK(process_env()("CRMSYNC_CONFIG_TEST_VAR") == "from-env");
  CHECK_FALSE(process_env()("CRMSYNC_CONFIG_TEST_UNSET").has_value());
  CHECK(filesystem_reader()(secret) == "from-a-file\n");
  CHECK_FALSE(filesystem_reader()((dir / "nope").string()).has_value());

  const LoadResult r = load_config_text(
      "name: x\nsource: {dsn: \"${CRMSYNC_CONFIG_TEST_VAR}\", tables: [t]}\ntarget: {dsn: \"${file:" + secret +
          "}\"}\n",
      "c.yaml");
  REQUIRE(r.errors.empty());
  CHECK(r.config->source.dsn == "from-env");
  CHECK(r.config->target.dsn == "from-a-file");
  ::unsetenv("CRMSYNC_CONFIG_TEST_VAR");
  std::filesystem::remove_all(dir);
}

}  // namespace crmsync::config::test

namespace crmsync::config::test {

TEST_CASE("config: the cutover section, its defaults, and a fence that cannot be undone") {
  const auto base = std::string("name: crm\nsource: {dsn: host=a, tables: [contacts]}\ntarget: {dsn: host=b}\n");
  const LoadResult d = load(base);
  REQUIRE(d.errors.empty());
  CHECK(d.config->cutover.fence_sql.empty());
  CHECK(d.config->cutover.unfence_sql.empty());
  CHECK(d.config->cutover.sequence_headroom == 1000);
  CHECK(d.config->cutover.marker_timeout_s == 30);
  CHECK(d.config->cutover.write_wait_s == 30);

  const LoadResult c =
      load(base +
           "cutover:\n  fence_sql: \"ALTER ROLE app NOLOGIN\"\n  unfence_sql: \"ALTER ROLE app LOGIN\"\n"
           "  sequence_headroom: 0\n  marker_timeout_s: 5\n  write_wait_s: 7\n"
           "  sequences: {crm.people_id_seq: public.contacts_id_seq, crm.notes_id_seq: none}\n");
  REQUIRE(c.errors.empty());
  CHECK(c.config->cutover.fence_sql == "ALTER ROLE app NOLOGIN");
  CHECK(c.config->cutover.unfence_sql == "ALTER ROLE app LOGIN");
  CHECK(c.config->cutover.sequence_headroom == 0);
  CHECK(c.config->cutover.marker_timeout_s == 5);
  CHECK(c.config->cutover.write_wait_s == 7);
  CHECK(c.config->cutover.sequences ==
        std::map<std::string, std::string>{{"crm.people_id_seq", "public.contacts_id_seq"},
                                           {"crm.notes_id_seq", "none"}});

  const auto lonely = errors_of(base + "cutover:\n  fence_sql: \"ALTER ROLE app NOLOGIN\"\n");
  REQUIRE(lonely.size() == 1);
  CHECK(lonely[0].find("fence_sql and unfence_sql go together") != std::string::npos);
  const auto typo = errors_of(base + "cutover:\n  marker_timeout: 5\n");
  REQUIRE(typo.size() == 1);
  CHECK(typo[0].find("did you mean \"marker_timeout_s\"") != std::string::npos);
}

}  // namespace crmsync::config::test
