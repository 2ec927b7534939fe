#include "checkpoint/records.hpp"

#include <fmt/format.h>

#include <charconv>
#include <exception>
#include <limits>

#include <nlohmann/json.hpp>

namespace crmsync::checkpoint::records {
namespace {

using nlohmann::json;

constexpr std::size_t kIndexDigits = 10;  // uint32 max is 4294967295: 10 digits keep keys sorted
constexpr std::size_t kSeqDigits = 20;    // uint64 max has 20 digits

Error bad(std::string why) {
  return Error{ErrorCode::Io, std::move(why)};
}

// dump() throws on invalid UTF-8 (e.g. a table name from a SQL_ASCII database): report, not crash.
Result<std::string> dump(const json& j) {
  try {
    return j.dump();
  } catch (const json::exception& e) {
    return Error{ErrorCode::InvalidArgument, fmt::format("cannot encode as JSON: {}", e.what())};
  }
}

// Reads typed fields from a decoded object, remembering the first problem instead of throwing:
// nlohmann's get<>() would silently truncate 1.5 to 1 or wrap -1 into a uint32.
class Fields {
 public:
  explicit Fields(const json& object) : object_(object) {}
  [[nodiscard]] const std::string& error() const { return error_; }

  std::string str(const char* name) {
    const json* v = find(name);
    if (v == nullptr) return {};
    if (!v->is_string()) {
      fail(name, "a string");
      return {};
    }
    return v->get<std::string>();
  }
  // A field that older versions did not write: missing reads as "".
  std::string added_str(const char* name) {
    if (!object_.contains(name)) return {};
    return str(name);
  }
  // A missing field is an error even when optional: the encoder always writes null.
  std::optional<std::int64_t> opt_i64(const char* name) {
    const json* v = find(name);
    if (v == nullptr || v->is_null()) return std::nullopt;
    return to_i64(*v, name);
  }
  std::int64_t i64(const char* name) {
    const json* v = find(name);
    if (v == nullptr) return 0;
    return to_i64(*v, name).value_or(0);
  }
  std::uint64_t u64(const char* name, std::uint64_t max) {
    const json* v = find(name);
    if (v == nullptr) return 0;
    if (!v->is_number_unsigned() || v->get<std::uint64_t>() > max) {
      fail(name, fmt::format("an integer in 0..{}", max));
      return 0;
    }
    return v->get<std::uint64_t>();
  }

 private:
  const json* find(const char* name) {
    auto it = object_.find(name);
    if (it != object_.end()) return &*it;
    if (error_.empty()) error_ = fmt::format("field \"{}\" is missing", name);
    return nullptr;
  }
  std::optional<std::int64_t> to_i64(const json& v, const char* name) {
    const bool too_big = v.is_number_unsigned() && v.get<std::uint64_t>() > std::numeric_limits<std::int64_t>::max();
    if (!v.is_number_integer() || too_big) {
      fail(name, "a 64-bit signed integer");
      return std::nullopt;
    }
    return v.get<std::int64_t>();
  }
  void fail(const char* name, std::string_view expected) {
    if (error_.empty()) error_ = fmt::format("field \"{}\" is not {}", name, expected);
  }

  const json& object_;
  std::string error_;
};

// Parses `text` as a JSON value and hands it to `read`; any exception becomes an Error, because the
// bytes come from disk and a corrupt record must never take the daemon down.
template <typename T, typename Read>
Result<T> decode(std::string_view text, Read read) {
  try {
    json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return bad("not valid JSON");
    return read(j);
  } catch (const std::exception& e) {
    return bad(e.what());
  }
}

std::optional<ChunkKind> parse_kind(std::string_view s) {
  for (auto k : {ChunkKind::Whole, ChunkKind::KeyRange, ChunkKind::CtidRange}) {
    if (to_string(k) == s) return k;
  }
  return std::nullopt;
}

std::optional<ChunkState> parse_state(std::string_view s) {
  for (auto st : {ChunkState::Pending, ChunkState::Done}) {
    if (to_string(st) == s) return st;
  }
  return std::nullopt;
}

json optional_int(const std::optional<std::int64_t>& v) {
  return v ? json(*v) : json(nullptr);
}

}  // namespace

std::string chunk_prefix(std::string_view table) {
  return fmt::format("{}{}/", kChunkPrefix, table);
}

std::string chunk_key(std::string_view table, std::uint32_t index) {
  return fmt::format("{}{}/{:0{}}", kChunkPrefix, table, index, kIndexDigits);
}

bool is_chunk_key_under(std::string_view key, std::string_view prefix) {
  if (!key.starts_with(prefix) || key.size() != prefix.size() + kIndexDigits) return false;
  std::uint32_t index = 0;
  auto digits = key.substr(prefix.size());
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
  return ec == std::errc{} && ptr == digits.data() + digits.size();
}

std::string chunklog_key(std::uint64_t seq) {
  return fmt::format("{}{:0{}}", kChunkLogPrefix, seq, kSeqDigits);
}

std::optional<std::uint64_t> parse_chunklog_seq(std::string_view key) {
  if (!key.starts_with(kChunkLogPrefix) || key.size() != kChunkLogPrefix.size() + kSeqDigits) return std::nullopt;
  auto digits = key.substr(kChunkLogPrefix.size());
  std::uint64_t seq = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), seq);
  if (ec != std::errc{} || ptr != digits.data() + digits.size()) return std::nullopt;
  return seq;
}

Result<std::string> encode_phase(Phase phase) {
  return dump(json(to_string(phase)));
}

Result<Phase> decode_phase(std::string_view text) {
  return decode<Phase>(text, [](const json& j) -> Result<Phase> {
    if (!j.is_string()) return bad("phase is not a JSON string");
    const auto& s = j.get_ref<const std::string&>();
    for (auto p : {Phase::New, Phase::Copying, Phase::Streaming}) {
      if (to_string(p) == s) return p;
    }
    return bad(fmt::format("unknown phase \"{}\"", s));
  });
}

Result<std::string> encode_lsn(Lsn lsn) {
  return dump(json(lsn.to_string()));
}

Result<Lsn> decode_lsn(std::string_view text) {
  return decode<Lsn>(text, [](const json& j) -> Result<Lsn> {
    if (!j.is_string()) return bad("LSN is not a JSON string");
    auto lsn = Lsn::parse(j.get_ref<const std::string&>());
    if (!lsn) return bad(lsn.error().message);
    return *lsn;
  });
}

Result<std::string> encode_source(const SourceIdentity& s) {
  return dump(json{{"system_identifier", s.system_identifier},
                   {"timeline", s.timeline},
                   {"slot", s.slot},
                   {"publication", s.publication},
                   {"consistent_lsn", s.consistent_lsn.to_string()}});
}

Result<SourceIdentity> decode_source(std::string_view text) {
  return decode<SourceIdentity>(text, [](const json& j) -> Result<SourceIdentity> {
    if (!j.is_object()) return bad("source identity is not a JSON object");
    Fields f(j);
    SourceIdentity s;
    s.system_identifier = f.str("system_identifier");
    s.timeline = static_cast<std::uint32_t>(f.u64("timeline", std::numeric_limits<std::uint32_t>::max()));
    s.slot = f.str("slot");
    s.publication = f.str("publication");
    const std::string lsn_text = f.str("consistent_lsn");
    if (!f.error().empty()) return bad(f.error());
    auto lsn = Lsn::parse(lsn_text);
    if (!lsn) return bad(fmt::format("field \"consistent_lsn\": {}", lsn.error().message));
    s.consistent_lsn = *lsn;
    return s;
  });
}

Result<std::string> encode_chunk(const ChunkRecord& c) {
  return dump(json{{"table", c.table},
                   {"index", c.index},
                   {"kind", to_string(c.kind)},
                   {"lower", optional_int(c.lower)},
                   {"upper", optional_int(c.upper)},
                   {"state", to_string(c.state)},
                   {"rows", c.rows},
                   {"snapshot", c.snapshot},
                   {"key", c.key_column}});
}

Result<ChunkRecord> decode_chunk(std::string_view text) {
  return decode<ChunkRecord>(text, [](const json& j) -> Result<ChunkRecord> {
    if (!j.is_object()) return bad("chunk is not a JSON object");
    Fields f(j);
    ChunkRecord c;
    c.table = f.str("table");
    c.index = static_cast<std::uint32_t>(f.u64("index", std::numeric_limits<std::uint32_t>::max()));
    const std::string kind = f.str("kind");
    c.lower = f.opt_i64("lower");
    c.upper = f.opt_i64("upper");
    const std::string state = f.str("state");
    c.rows = f.i64("rows");
    c.snapshot = f.str("snapshot");
    c.key_column = f.added_str("key");
    if (!f.error().empty()) return bad(f.error());
    auto k = parse_kind(kind);
    if (!k) return bad(fmt::format("unknown chunk kind \"{}\"", kind));
    auto st = parse_state(state);
    if (!st) return bad(fmt::format("unknown chunk state \"{}\"", state));
    c.kind = *k;
    c.state = *st;
    return c;
  });
}

Result<std::string> encode_chunk_log(const ChunkLogEntry& e) {
  return dump(json{{"seq", e.seq},
                   {"table", e.table},
                   {"index", e.index},
                   {"rows", e.rows},
                   {"snapshot", e.snapshot},
                   {"unix_ms", e.unix_ms}});
}

Result<ChunkLogEntry> decode_chunk_log(std::string_view text) {
  return decode<ChunkLogEntry>(text, [](const json& j) -> Result<ChunkLogEntry> {
    if (!j.is_object()) return bad("chunk log entry is not a JSON object");
    Fields f(j);
    ChunkLogEntry e;
    e.seq = f.u64("seq", std::numeric_limits<std::uint64_t>::max());
    e.table = f.str("table");
    e.index = static_cast<std::uint32_t>(f.u64("index", std::numeric_limits<std::uint32_t>::max()));
    e.rows = f.i64("rows");
    e.snapshot = f.str("snapshot");
    e.unix_ms = f.i64("unix_ms");
    if (!f.error().empty()) return bad(f.error());
    return e;
  });
}

}  // namespace crmsync::checkpoint::records

namespace crmsync::checkpoint {

// These strings are stored on disk: renaming one makes existing state unreadable.
std::string_view to_string(Phase phase) {
  switch (phase) {
    case Phase::New: return "new";
    case Phase::Copying: return "copying";
    case Phase::Streaming: return "streaming";
  }
  return "unknown";
}

std::string_view to_string(ChunkState state) {
  switch (state) {
    case ChunkState::Pending: return "pending";
    case ChunkState::Done: return "done";
  }
  return "unknown";
}

std::string_view to_string(ChunkKind kind) {
  switch (kind) {
    case ChunkKind::Whole: return "whole";
    case ChunkKind::KeyRange: return "key_range";
    case ChunkKind::CtidRange: return "ctid_range";
  }
  return "unknown";
}

}  // namespace crmsync::checkpoint
