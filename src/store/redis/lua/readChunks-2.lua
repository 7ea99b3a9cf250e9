--[[
  An upload's chunks from an index, if the upload is still this one.
  Input:
    KEYS[1] upload record
    KEYS[2] chunk list
    ARGV[1] upload id
    ARGV[2] first index
  Output: the chunks (array), or -1 when the upload is not this one
]]
local rec = redis.call('GET', KEYS[1])
if not rec or cjson.decode(rec).id ~= ARGV[1] then return -1 end
return redis.call('LRANGE', KEYS[2], tonumber(ARGV[2]), -1)
