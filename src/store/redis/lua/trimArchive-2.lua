--[[
  Drops a rendition's archive records whose segment started before a wall clock (issue #11).
  Input:
    KEYS[1] the rendition's archive (sorted set scored by wall clock ms)
    KEYS[2] the stream's set of archived renditions
    ARGV[1] before, Unix ms (exclusive)
    ARGV[2] rendition name
  Output: records removed
]]
local n = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[2]) end
return n
