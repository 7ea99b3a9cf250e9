--[[
  Records a complete segment in a rendition's DVR archive (issue #11), idempotent by msn.
  Input:
    KEYS[1] the rendition's archive (sorted set: score = first sample's wall clock, Unix ms; member = record)
    KEYS[2] the stream's set of archived renditions
    ARGV[1] score (wall clock ms)
    ARGV[2] msn
    ARGV[3] member (the compact record, "msn,...")
    ARGV[4] rendition name
  Output: 1 recorded, 0 already recorded with the same record
]]
local head = ARGV[2] .. ','
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])) do
  if string.sub(m, 1, #head) == head then
    if m == ARGV[3] then return 0 end
    redis.call('ZREM', KEYS[1], m)
  end
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
return 1
