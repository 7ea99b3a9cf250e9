--[[
  Bytes before references: stores a part's bytes, then the open segment entry that lists it, atomically.
  Sequence counters only ever increase, so a restart never reuses a URL.
  Input:
    KEYS[1] part object key
    KEYS[2] open segment key
    KEYS[3] seq hash
    KEYS[4] meta hash
    ARGV[1] part bytes
    ARGV[2] part ttl (s)
    ARGV[3] open segment entry (JSON, with its parts)
    ARGV[4] open entry ttl (s)
    ARGV[5] rendition name
    ARGV[6] part duration (ticks), for the longest-part record
  Output: the stream's new version
]]
-- @include counters
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
local open = cjson.decode(ARGV[3])
raiseSequences(KEYS[3], ARGV[5], open.msn, open.discontinuitySeq)
raiseTo(KEYS[4], 'maxPart:' .. ARGV[5], tonumber(ARGV[6]))
return redis.call('HINCRBY', KEYS[4], 'version', 1)
