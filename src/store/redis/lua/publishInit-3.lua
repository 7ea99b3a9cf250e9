--[[
  Stores a rendition's init segment and its description, then advances the init id.
  Input:
    KEYS[1] init object key
    KEYS[2] seq hash
    KEYS[3] meta hash
    ARGV[1] init bytes
    ARGV[2] ttl (s)
    ARGV[3] rendition name
    ARGV[4] init id
    ARGV[5] rendition description (JSON)
  Output: the stream's new version
]]
-- @include counters
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
raiseTo(KEYS[2], ARGV[3] .. ':initId', tonumber(ARGV[4]))
redis.call('HSET', KEYS[3], 'r:' .. ARGV[3], ARGV[5], 'state', 'live')
return redis.call('HINCRBY', KEYS[3], 'version', 1)
