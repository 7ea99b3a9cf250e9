--[[
  Turns an upload's chunks into the object, atomically: the object appears whole or not at all, and the upload
  is gone.
  Input:
    KEYS[1] upload record
    KEYS[2] chunk list
    KEYS[3] metadata
    KEYS[4] bytes
    ARGV[1] upload id
    ARGV[2] ttl (s)
    ARGV[3] metadata (JSON; len must match the chunks)
  Output: 1, -1 when the upload is not this one, -2 when the chunks do not add up to len
]]
local rec = redis.call('GET', KEYS[1])
if not rec or cjson.decode(rec).id ~= ARGV[1] then return -1 end
local body = table.concat(redis.call('LRANGE', KEYS[2], 0, -1))
if #body ~= cjson.decode(ARGV[3]).len then return -2 end
redis.call('SET', KEYS[4], body, 'EX', ARGV[2])
redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[2])
redis.call('DEL', KEYS[1], KEYS[2])
return 1
