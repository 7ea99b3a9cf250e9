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
    ARGV[6] msn of the segment
    ARGV[7] discontinuity sequence of the segment
    ARGV[8] part duration (ticks), for the longest-part record
  Output: the stream's new version
]]
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
local r = ARGV[5]
local nextMsn = tonumber(ARGV[6]) + 1
if nextMsn > tonumber(redis.call('HGET', KEYS[3], r .. ':nextMsn') or '0') then
  redis.call('HSET', KEYS[3], r .. ':nextMsn', nextMsn)
end
if tonumber(ARGV[7]) > tonumber(redis.call('HGET', KEYS[3], r .. ':disc') or '-1') then
  redis.call('HSET', KEYS[3], r .. ':disc', ARGV[7])
end
if tonumber(ARGV[8]) > tonumber(redis.call('HGET', KEYS[4], 'maxPart:' .. r) or '0') then
  redis.call('HSET', KEYS[4], 'maxPart:' .. r, ARGV[8])
end
return redis.call('HINCRBY', KEYS[4], 'version', 1)
