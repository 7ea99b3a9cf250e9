--[[
  Drops an upload and its chunks if it is still this one.
  Input:
    KEYS[1] upload record
    KEYS[2] chunk list
    ARGV[1] upload id
  Output: 1 when dropped, 0 otherwise
]]
local rec = redis.call('GET', KEYS[1])
if not rec or cjson.decode(rec).id ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
