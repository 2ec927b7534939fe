#pragma once
// Internal to checkpoint/ (store.cpp and its tests): the key layout and the JSON form of every
// record. Kept apart from store.cpp so the RocksDB plumbing and the encoding each stay readable.
//
// Encoders fail only on strings that are not valid UTF-8 (JSON cannot hold them). Decoders return
// an Error whose message is just the reason; the store prefixes the directory and the key.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "checkpoint/store.hpp"
#include "core/result.hpp"

namespace crmsync::checkpoint::records {

inline constexpr std::string_view kPhaseKey = "meta/phase";
inline constexpr std::string_view kSourceKey = "meta/source";
inline constexpr std::string_view kConfirmedLsnKey = "meta/confirmed_lsn";
inline constexpr std::string_view kChunkPrefix = "chunk/";        // chunk/<table>/<index:10 digits>
inline constexpr std::string_view kChunkLogPrefix = "chunklog/";  // chunklog/<seq:20 digits>
inline constexpr std::string_view kUserMetaPrefix = "kv/";        // kv/<put_meta key>, value verbatim

std::string chunk_prefix(std::string_view table);  // "chunk/<table>/"
std::string chunk_key(std::string_view table, std::uint32_t index);
// True iff `key` is `prefix` followed by exactly one 10-digit index: keeps table "a" from
// claiming the chunks of a table named "a/b".
bool is_chunk_key_under(std::string_view key, std::string_view prefix);
std::string chunklog_key(std::uint64_t seq);
std::optional<std::uint64_t> parse_chunklog_seq(std::string_view key);

Result<std::string> encode_phase(Phase phase);
Result<Phase> decode_phase(std::string_view text);

Result<std::string> encode_lsn(Lsn lsn);
Result<Lsn> decode_lsn(std::string_view text);

Result<std::string> encode_source(const SourceIdentity& source);
Result<SourceIdentity> decode_source(std::string_view text);

Result<std::string> encode_chunk(const ChunkRecord& chunk);
Result<ChunkRecord> decode_chunk(std::string_view text);

Result<std::string> encode_chunk_log(const ChunkLogEntry& entry);
Result<ChunkLogEntry> decode_chunk_log(std::string_view text);

}  // namespace crmsync::checkpoint::records
