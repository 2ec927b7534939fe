#pragma once
// The pgoutput decoder: a pure function from the bytes of one logical replication message (the
// payload of an XLogData 'w' message, or one `data` value of pg_logical_slot_peek_binary_changes)
// to a typed message. Protocol version 1 (no streaming of in-progress transactions, no two-phase
// messages) plus logical decoding messages (`messages 'true'`). Text tuple format only.
//
// Wire data is never trusted: every read is bounds-checked, and a malformed message is an
// Error{ProtocolViolation} naming the message type, the field and the byte offset; never a crash,
// an assert or a silently defaulted field. No state is kept between messages: matching an Insert
// to its Relation is the relation cache's job.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/ids.hpp"
#include "core/lsn.hpp"
#include "core/relation.hpp"
#include "core/result.hpp"
#include "core/value.hpp"

namespace crmsync::cdc::pgoutput {

/// 'B'. commit_time_us: microseconds since 2000-01-01 00:00 UTC (the PostgreSQL epoch), as sent.
struct Begin {
  Lsn final_lsn;
  std::int64_t commit_time_us = 0;
  Xid xid;
  friend bool operator==(const Begin&, const Begin&) = default;
};

/// 'C'. flags is passed through as sent (PostgreSQL 15 always sends 0).
struct Commit {
  std::uint8_t flags = 0;
  Lsn commit_lsn;
  Lsn end_lsn;
  std::int64_t commit_time_us = 0;
  friend bool operator==(const Commit&, const Commit&) = default;
};

/// 'O': the transaction was replayed from a replication origin; commit_lsn is the origin's LSN.
struct Origin {
  Lsn commit_lsn;
  std::string name;
  friend bool operator==(const Origin&, const Origin&) = default;
};

/// 'R'. The namespace is empty for pg_catalog, as sent.
struct RelationMessage {
  Relation relation;
  friend bool operator==(const RelationMessage&, const RelationMessage&) = default;
};

/// 'Y': a non-built-in type used by a following Relation.
struct TypeMessage {
  Oid oid;
  std::string schema;
  std::string name;
  friend bool operator==(const TypeMessage&, const TypeMessage&) = default;
};

/// 'I'.
struct Insert {
  Oid relation;
  Row new_row;
  friend bool operator==(const Insert&, const Insert&) = default;
};

/// Which old tuple an Update or Delete carries: none, the replica identity key ('K', non-key
/// columns are NULL), or the whole old row ('O', REPLICA IDENTITY FULL).
enum class OldKind { None, Key, Full };

/// 'U'. old_row is empty when old_kind is None.
struct Update {
  Oid relation;
  OldKind old_kind = OldKind::None;
  Row old_row;
  Row new_row;
  friend bool operator==(const Update&, const Update&) = default;
};

/// 'D'. old_kind is Key or Full.
struct Delete {
  Oid relation;
  OldKind old_kind = OldKind::Key;
  Row old_row;
  friend bool operator==(const Delete&, const Delete&) = default;
};

/// 'T'.
struct Truncate {
  bool cascade = false;
  bool restart_identity = false;
  std::vector<Oid> relations;
  friend bool operator==(const Truncate&, const Truncate&) = default;
};

/// 'M': pg_logical_emit_message(). A non-transactional one arrives outside Begin/Commit.
struct LogicalMessage {
  bool transactional = false;
  Lsn lsn;
  std::string prefix;
  std::string content;  // arbitrary bytes
  friend bool operator==(const LogicalMessage&, const LogicalMessage&) = default;
};

using Message =
    std::variant<Begin, Commit, Origin, RelationMessage, TypeMessage, Insert, Update, Delete, Truncate, LogicalMessage>;

/// Decodes one complete message. Trailing bytes, an unknown type byte, binary tuple data,
/// streaming or two-phase messages are errors (ErrorCode::ProtocolViolation).
Result<Message> decode(std::string_view payload);

/// "Begin", "Commit", "Origin", "Relation", "Type", "Insert", "Update", "Delete", "Truncate",
/// "Message" (the names the PostgreSQL documentation uses).
std::string_view message_name(const Message& message);

/// What a read was for, for error messages: "relation oid", "column 3 type oid",
/// "new tuple column 2 length", "key tuple column count".
struct Field {
  Field(const char* what_) : what(what_) {}       // NOLINT(google-explicit-constructor)
  Field(std::string_view what_) : what(what_) {}  // NOLINT(google-explicit-constructor)
  Field(std::string_view scope_, std::size_t column_, std::string_view what_)
      : what(what_), scope(scope_), column(column_) {}
  std::string_view what;
  std::string_view scope;  // e.g. "new tuple"; may be empty
  std::size_t column = 0;  // 1-based; 0 when the field is not about one column
  [[nodiscard]] std::string describe() const;
};

/// Bounds-checked big-endian reader over one message. Offsets in errors count from the start of
/// the message (the type byte is byte 0). Errors read "<context>: <what> at byte N ...".
class WireReader {
 public:
  WireReader(std::string_view data, std::string_view context) : data_(data), context_(context) {}

  Result<std::uint8_t> u8(const Field& field);
  Result<std::int16_t> i16(const Field& field);
  Result<std::int32_t> i32(const Field& field);
  Result<std::uint32_t> u32(const Field& field);
  Result<std::int64_t> i64(const Field& field);
  Result<std::uint64_t> u64(const Field& field);
  /// A NUL-terminated string; the NUL is consumed and not returned.
  Result<std::string> cstring(const Field& field);
  /// Exactly n bytes.
  Result<std::string> bytes(std::size_t n, const Field& field);
  /// An Int32 length (negative is an error) followed by that many bytes.
  Result<std::string> counted_bytes(const Field& length_field, const Field& bytes_field);

  [[nodiscard]] std::size_t offset() const { return pos_; }
  [[nodiscard]] std::size_t remaining() const { return data_.size() - pos_; }
  [[nodiscard]] std::string_view context() const { return context_; }
  void set_context(std::string_view context) { context_ = context; }

  /// ProtocolViolation "<context>: <detail>".
  [[nodiscard]] Error error(std::string_view detail) const;
  /// Error unless every byte has been consumed.
  Status expect_end();

 private:
  Result<std::uint64_t> be(std::size_t n, const Field& field);
  [[nodiscard]] Error truncated(std::size_t need, const Field& field) const;

  std::string_view data_;
  std::string_view context_;
  std::size_t pos_ = 0;
};

/// "'N' (0x4e)" for printable ASCII, "0x05" otherwise: how errors show a wire byte.
std::string describe_byte(std::uint8_t byte);

}  // namespace crmsync::cdc::pgoutput
