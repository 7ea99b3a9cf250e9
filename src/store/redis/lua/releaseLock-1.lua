--[[
  Releases a publisher lease only if this holder still has it.
  Input:
    KEYS[1] lock key
    ARGV[1] holder id
  Output: 1 released, 0 not held by this holder
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
