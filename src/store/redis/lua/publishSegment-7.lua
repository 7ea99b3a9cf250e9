--[[
  Bytes before references: stores a complete segment's bytes, then appends its entry to the timeline, keeps its
  parts' list for the recent segments, trims the DVR window and refreshes the init segment's TTL, atomically.
  Safe to run twice with the same arguments.
  Input:
    KEYS[1] segment object key
    KEYS[2] segments list
    KEYS[3] parts hash
    KEYS[4] open segment key
    KEYS[5] seq hash
    KEYS[6] meta hash
    KEYS[7] init object key of this segment
    ARGV[1] segment bytes
    ARGV[2] segment ttl (s)
    ARGV[3] segment entry (JSON, without parts)
    ARGV[4] parts (JSON array)
    ARGV[5] rendition name
    ARGV[6] segments kept in the list (DVR window)
    ARGV[7] segments that keep their parts list
    ARGV[8] init ttl (s)
  Output: the stream's new version, negated when the stream's meta lacks its settings or this rendition's
    description, or the segment's init segment is gone (the store lost them, e.g. Redis restarted empty): the writer publishes them again.
]]
-- @include counters
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
local entry = cjson.decode(ARGV[3])
local msn = entry.msn
local msnField = string.format('%d', msn)
-- Idempotent: a retry after a timed-out call that did run must not list the segment twice.
local last = redis.call('LINDEX', KEYS[2], -1)
if not last or cjson.decode(last).msn < msn then
  redis.call('RPUSH', KEYS[2], ARGV[3])
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[6]), -1)
end
redis.call('HSET', KEYS[3], msnField, ARGV[4])
redis.call('HDEL', KEYS[3], string.format('%d', msn - tonumber(ARGV[7])))
-- The open entry goes only if it is this segment (the next one may already have begun).
local open = redis.call('GET', KEYS[4])
if open and cjson.decode(open).msn == msn then redis.call('DEL', KEYS[4]) end
raiseSequences(KEYS[5], ARGV[5], msn, entry.discontinuitySeq)
local hasInit = redis.call('EXPIRE', KEYS[7], ARGV[8]) == 1
local described = hasInit and redis.call('HEXISTS', KEYS[6], 'settings') == 1
  and redis.call('HEXISTS', KEYS[6], 'r:' .. ARGV[5]) == 1
local version = redis.call('HINCRBY', KEYS[6], 'version', 1)
if described then return version end
return -version
