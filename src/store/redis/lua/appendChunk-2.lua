--[[
  Appends a chunk to the upload named by its id (a superseded or expired upload takes nothing).
  Input:
    KEYS[1] upload record
    KEYS[2] chunk list
    ARGV[1] upload id
    ARGV[2] chunk bytes
  Output: the chunk count, or -1 when the upload is not this one
]]
local rec = redis.call('GET', KEYS[1])
if not rec or cjson.decode(rec).id ~= ARGV[1] then return -1 end
local n = redis.call('RPUSH', KEYS[2], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return n
