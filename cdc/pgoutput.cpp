/* pgoutput, protocol version 1: the byte layout of every message decoded here.

   Integers are big-endian (network order). "str" is a NUL-terminated string. Byte offsets in error
   messages count from the start of the message: byte 0 is the type letter.

   Begin     'B'  u64 final LSN of the transaction
                  i64 commit time, microseconds since 2000-01-01 00:00 UTC
                  u32 xid                                                       (21 bytes in all)
   Commit    'C'  u8  flags (always 0 so far)
                  u64 LSN of the commit record
                  u64 end LSN of the transaction
                  i64 commit time                                               (26 bytes in all)
   Origin    'O'  u64 commit LSN on the origin server
                  str origin name                      (sent after Begin for a replayed transaction)
   Relation  'R'  u32 relation oid
                  str namespace ("" for pg_catalog)
                  str relation name
                  u8  replica identity: 'd' default, 'n' nothing, 'f' full, 'i' index
                  i16 number of columns, then for each column (generated ones are left out):
                      u8  flags: 1 = part of the replica identity key, no other bit is defined
                      str column name
                      u32 type oid
                      i32 type modifier (-1 for none)
   Type      'Y'  u32 type oid, str namespace, str type name      (precedes a Relation using it)
   Insert    'I'  u32 relation oid, 'N', tuple
   Update    'U'  u32 relation oid, optionally ('K' key tuple | 'O' old-row tuple), then 'N', tuple
                  'K': the replica identity changed, non-key columns are sent as NULL;
                  'O': REPLICA IDENTITY FULL, the whole old row. Neither when the key is unchanged.
   Delete    'D'  u32 relation oid, then 'K' tuple or 'O' tuple
   Truncate  'T'  i32 number of relations
                  u8  options: 1 = CASCADE, 2 = RESTART IDENTITY
                  u32 relation oid, once per relation
   Message   'M'  u8  flags: 1 = transactional (else sent immediately, outside Begin/Commit)
                  u64 LSN of the message
                  str prefix
                  i32 content length, then that many bytes of content

   tuple:         i16 number of columns, then for each column a kind byte:
                  'n'                   NULL
                  'u'                   unchanged TOAST value: stored out of line and not sent
                  't' i32 len, len bytes  the value in text form (no NUL terminator)
                  'b' i32 len, len bytes  binary form, only with the 'binary' option (never
                                          requested here, so an error)

   Not decoded (each an error saying why): the streaming messages 'S' 'E' 'c' 'A' (protocol 2,
   'streaming') together with the xid that protocol 2 puts before the body of the messages above
   inside a stream, and the two-phase messages 'b' 'P' 'K' 'r' 'p' (protocol 3, 'two_phase').
*/

#include "cdc/pgoutput.hpp"

#include <array>

namespace crmsync::cdc::pgoutput {
namespace {

// At least 1 (flags) + 1 (empty name's NUL) + 4 (type oid) + 4 (typmod) bytes per Relation column.
constexpr std::size_t kMinRelationColumnBytes = 10;

Result<Message> decode_begin(WireReader& r) {
  auto final_lsn = r.u64("final lsn");
  if (!final_lsn) return final_lsn.take_error();
  auto time = r.i64("commit timestamp");
  if (!time) return time.take_error();
  auto xid = r.u32("xid");
  if (!xid) return xid.take_error();
  return Message{Begin{Lsn{*final_lsn}, *time, Xid{*xid}}};
}

Result<Message> decode_commit(WireReader& r) {
  auto flags = r.u8("flags");
  if (!flags) return flags.take_error();
  auto commit_lsn = r.u64("commit lsn");
  if (!commit_lsn) return commit_lsn.take_error();
  auto end_lsn = r.u64("end lsn");
  if (!end_lsn) return end_lsn.take_error();
  auto time = r.i64("commit timestamp");
  if (!time) return time.take_error();
  return Message{Commit{*flags, Lsn{*commit_lsn}, Lsn{*end_lsn}, *time}};
}

Result<Message> decode_origin(WireReader& r) {
  auto lsn = r.u64("origin commit lsn");
  if (!lsn) return lsn.take_error();
  auto name = r.cstring("origin name");
  if (!name) return name.take_error();
  return Message{Origin{Lsn{*lsn}, std::move(*name)}};
}

Result<RelReplIdent> to_replica_identity(WireReader& r, std::size_t at, std::uint8_t byte) {
  switch (byte) {
    case 'd': return RelReplIdent::Default;
    case 'n': return RelReplIdent::Nothing;
    case 'f': return RelReplIdent::Full;
    case 'i': return RelReplIdent::Index;
    default: break;
  }
  return r.error(
      fmt::format("unknown replica identity {} at byte {} (expected 'd', 'n', 'f' or 'i')", describe_byte(byte), at));
}

Result<Message> decode_relation(WireReader& r) {
  RelationMessage msg;
  Relation& rel = msg.relation;
  auto oid = r.u32("relation oid");
  if (!oid) return oid.take_error();
  rel.oid = Oid{*oid};
  auto schema = r.cstring("namespace");
  if (!schema) return schema.take_error();
  rel.schema = std::move(*schema);
  auto name = r.cstring("relation name");
  if (!name) return name.take_error();
  rel.name = std::move(*name);
  std::size_t at = r.offset();
  auto ident_byte = r.u8("replica identity");
  if (!ident_byte) return ident_byte.take_error();
  auto ident = to_replica_identity(r, at, *ident_byte);
  if (!ident) return ident.take_error();
  rel.replica_identity = *ident;

  at = r.offset();
  auto ncols = r.i16("column count");
  if (!ncols) return ncols.take_error();
  if (*ncols < 0) return r.error(fmt::format("negative column count {} at byte {}", *ncols, at));
  const auto count = static_cast<std::size_t>(*ncols);
  if (count > r.remaining() / kMinRelationColumnBytes) {
    return r.error(
        fmt::format("column count {} at byte {} exceeds the remaining {} bytes (each column takes at "
                    "least {})",
                    count, at, r.remaining(), kMinRelationColumnBytes));
  }
  rel.columns.reserve(count);  // bounded by the bytes left, checked above
  for (std::size_t i = 1; i <= count; ++i) {
    at = r.offset();
    auto flags = r.u8(Field("", i, "flags"));
    if (!flags) return flags.take_error();
    if ((*flags & ~1U) != 0) {
      return r.error(
          fmt::format("unknown flags 0x{:02x} for column {} at byte {} (only 1 = key is defined)", *flags, i, at));
    }
    auto col_name = r.cstring(Field("", i, "name"));
    if (!col_name) return col_name.take_error();
    auto type = r.u32(Field("", i, "type oid"));
    if (!type) return type.take_error();
    auto typmod = r.i32(Field("", i, "type modifier"));
    if (!typmod) return typmod.take_error();
    rel.columns.push_back(RelationColumn{std::move(*col_name), Oid{*type}, *typmod, (*flags & 1U) != 0});
  }
  return Message{std::move(msg)};
}

Result<Message> decode_type(WireReader& r) {
  auto oid = r.u32("type oid");
  if (!oid) return oid.take_error();
  auto schema = r.cstring("namespace");
  if (!schema) return schema.take_error();
  auto name = r.cstring("type name");
  if (!name) return name.take_error();
  return Message{TypeMessage{Oid{*oid}, std::move(*schema), std::move(*name)}};
}

// One TupleData. `scope` names it in errors: "new tuple", "key tuple", "old tuple".
Result<Row> read_tuple(WireReader& r, std::string_view scope) {
  std::size_t at = r.offset();
  auto ncols = r.i16(Field(scope, 0, "column count"));
  if (!ncols) return ncols.take_error();
  if (*ncols < 0) return r.error(fmt::format("negative {} column count {} at byte {}", scope, *ncols, at));
  const auto count = static_cast<std::size_t>(*ncols);
  if (count > r.remaining()) {
    return r.error(
        fmt::format("{} column count {} at byte {} exceeds the remaining {} bytes (each column takes at "
                    "least 1)",
                    scope, count, at, r.remaining()));
  }
  Row row;
  row.reserve(count);  // bounded by the bytes left, checked above
  for (std::size_t i = 1; i <= count; ++i) {
    at = r.offset();
    auto kind = r.u8(Field(scope, i, "kind"));
    if (!kind) return kind.take_error();
    switch (*kind) {
      case 'n': row.push_back(Value::null()); break;
      case 'u': row.push_back(Value::unchanged_toast()); break;
      case 't': {
        auto text = r.counted_bytes(Field(scope, i, "length"), Field(scope, i, "value"));
        if (!text) return text.take_error();
        row.push_back(Value::of(std::move(*text)));
        break;
      }
      case 'b':
        return r.error(
            fmt::format("binary tuple data was not requested ({} column {} has kind 'b' at byte {})", scope, i, at));
      default:
        return r.error(fmt::format("unknown {} column {} kind {} at byte {} (expected 'n', 'u' or 't')", scope, i,
                                   describe_byte(*kind), at));
    }
  }
  return row;
}

// The 'N' that introduces the new tuple of an Insert or Update.
Status expect_new_tag(WireReader& r) {
  const std::size_t at = r.offset();
  auto tag = r.u8("new tuple tag");
  if (!tag) return tag.take_error();
  if (*tag != 'N') {
    return r.error(fmt::format("expected 'N' (new tuple) at byte {}, got {}", at, describe_byte(*tag)));
  }
  return {};
}

Result<Message> decode_insert(WireReader& r) {
  auto oid = r.u32("relation oid");
  if (!oid) return oid.take_error();
  auto tag = expect_new_tag(r);
  if (!tag) return tag.take_error();
  auto row = read_tuple(r, "new tuple");
  if (!row) return row.take_error();
  return Message{Insert{Oid{*oid}, std::move(*row)}};
}

// 'K' or 'O' and the tuple after it.
struct OldTuple {
  OldKind kind = OldKind::None;
  Row row;
};
Result<OldTuple> read_old_tuple(WireReader& r, std::uint8_t tag) {
  OldTuple old;
  old.kind = tag == 'K' ? OldKind::Key : OldKind::Full;
  auto row = read_tuple(r, tag == 'K' ? "key tuple" : "old tuple");
  if (!row) return row.take_error();
  old.row = std::move(*row);
  return old;
}

Result<Message> decode_update(WireReader& r) {
  Update msg;
  auto oid = r.u32("relation oid");
  if (!oid) return oid.take_error();
  msg.relation = Oid{*oid};
  const std::size_t at = r.offset();
  auto tag = r.u8("tuple tag");
  if (!tag) return tag.take_error();
  if (*tag == 'K' || *tag == 'O') {
    auto old = read_old_tuple(r, *tag);
    if (!old) return old.take_error();
    msg.old_kind = old->kind;
    msg.old_row = std::move(old->row);
    auto new_tag = expect_new_tag(r);
    if (!new_tag) return new_tag.take_error();
  } else if (*tag != 'N') {
    return r.error(fmt::format("expected 'K' (key), 'O' (old row) or 'N' (new tuple) at byte {}, got {}", at,
                               describe_byte(*tag)));
  }
  auto row = read_tuple(r, "new tuple");
  if (!row) return row.take_error();
  msg.new_row = std::move(*row);
  return Message{std::move(msg)};
}

Result<Message> decode_delete(WireReader& r) {
  auto oid = r.u32("relation oid");
  if (!oid) return oid.take_error();
  const std::size_t at = r.offset();
  auto tag = r.u8("tuple tag");
  if (!tag) return tag.take_error();
  if (*tag != 'K' && *tag != 'O') {
    return r.error(fmt::format("expected 'K' (key) or 'O' (old row) at byte {}, got {}", at, describe_byte(*tag)));
  }
  auto old = read_old_tuple(r, *tag);
  if (!old) return old.take_error();
  return Message{Delete{Oid{*oid}, old->kind, std::move(old->row)}};
}

Result<Message> decode_truncate(WireReader& r) {
  Truncate msg;
  const std::size_t count_at = r.offset();
  auto nrels = r.i32("relation count");
  if (!nrels) return nrels.take_error();
  if (*nrels < 0) return r.error(fmt::format("negative relation count {} at byte {}", *nrels, count_at));
  const std::size_t options_at = r.offset();
  auto options = r.u8("options");
  if (!options) return options.take_error();
  if ((*options & ~3U) != 0) {
    return r.error(
        fmt::format("unknown options 0x{:02x} at byte {} (only 1 = CASCADE, 2 = RESTART IDENTITY are "
                    "defined)",
                    *options, options_at));
  }
  msg.cascade = (*options & 1U) != 0;
  msg.restart_identity = (*options & 2U) != 0;
  const auto count = static_cast<std::size_t>(*nrels);
  if (count > r.remaining() / 4) {
    return r.error(fmt::format("relation count {} at byte {} exceeds the remaining {} bytes (4 per relation)", count,
                               count_at, r.remaining()));
  }
  msg.relations.reserve(count);  // bounded by the bytes left, checked above
  for (std::size_t i = 0; i < count; ++i) {
    auto oid = r.u32("relation oid");
    if (!oid) return oid.take_error();
    msg.relations.emplace_back(*oid);
  }
  return Message{std::move(msg)};
}

Result<Message> decode_logical_message(WireReader& r) {
  LogicalMessage msg;
  auto flags = r.u8("flags");
  if (!flags) return flags.take_error();
  if ((*flags & ~1U) != 0) {
    return r.error(fmt::format("unknown flags 0x{:02x} at byte 1 (only 1 = transactional is defined)", *flags));
  }
  msg.transactional = *flags == 1;
  auto lsn = r.u64("lsn");
  if (!lsn) return lsn.take_error();
  msg.lsn = Lsn{*lsn};
  auto prefix = r.cstring("prefix");
  if (!prefix) return prefix.take_error();
  msg.prefix = std::move(*prefix);
  auto content = r.counted_bytes("content length", "content");
  if (!content) return content.take_error();
  msg.content = std::move(*content);
  return Message{std::move(msg)};
}

struct Decoder {
  std::string_view context;
  Result<Message> (*fn)(WireReader&);
};

// The decoder for a type byte, or nullptr with `why` set.
const Decoder* find_decoder(std::uint8_t type, std::string_view& why) {
  static const Decoder begin{"pgoutput Begin", decode_begin}, commit{"pgoutput Commit", decode_commit},
      origin{"pgoutput Origin", decode_origin}, relation{"pgoutput Relation", decode_relation},
      type_msg{"pgoutput Type", decode_type}, insert{"pgoutput Insert", decode_insert},
      update{"pgoutput Update", decode_update}, del{"pgoutput Delete", decode_delete},
      truncate{"pgoutput Truncate", decode_truncate}, message{"pgoutput Message", decode_logical_message};
  switch (type) {
    case 'B': return &begin;
    case 'C': return &commit;
    case 'O': return &origin;
    case 'R': return &relation;
    case 'Y': return &type_msg;
    case 'I': return &insert;
    case 'U': return &update;
    case 'D': return &del;
    case 'T': return &truncate;
    case 'M': return &message;
    case 'S': why = "Stream Start: streaming of in-progress transactions was not requested"; break;
    case 'E': why = "Stream Stop: streaming of in-progress transactions was not requested"; break;
    case 'c': why = "Stream Commit: streaming of in-progress transactions was not requested"; break;
    case 'A': why = "Stream Abort: streaming of in-progress transactions was not requested"; break;
    case 'b': why = "Begin Prepare: two-phase decoding was not requested"; break;
    case 'P': why = "Prepare: two-phase decoding was not requested"; break;
    case 'K': why = "Commit Prepared: two-phase decoding was not requested"; break;
    case 'r': why = "Rollback Prepared: two-phase decoding was not requested"; break;
    case 'p': why = "Stream Prepare: two-phase decoding was not requested"; break;
    default: why = "unknown message type"; break;
  }
  return nullptr;
}

}  // namespace

Result<Message> decode(std::string_view payload) {
  WireReader r(payload, "pgoutput");
  auto type = r.u8("message type");
  if (!type) return r.error("empty message");
  std::string_view why;
  const Decoder* decoder = find_decoder(*type, why);
  if (decoder == nullptr) {
    return r.error(fmt::format("message type {} at byte 0: {}", describe_byte(*type), why));
  }
  r.set_context(decoder->context);
  auto message = decoder->fn(r);
  if (!message) return message;
  auto end = r.expect_end();
  if (!end) return end.take_error();
  return message;
}

std::string_view message_name(const Message& message) {
  static constexpr std::array<std::string_view, 10> kNames = {"Begin",  "Commit", "Origin", "Relation", "Type",
                                                              "Insert", "Update", "Delete", "Truncate", "Message"};
  static_assert(std::variant_size_v<Message> == kNames.size());
  return kNames[message.index()];
}

}  // namespace crmsync::cdc::pgoutput
