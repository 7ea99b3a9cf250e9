--[[
  A publisher lease: take it when free, refresh it when held by the same holder.
  Input:
    KEYS[1] lock key
    ARGV[1] holder id
    ARGV[2] ttl (ms)
    ARGV[3] 1 = take if free (claim), 0 = only refresh an existing lease
  Output: 1 held by this holder now, 0 held by another (or gone, for a refresh)
]]
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not cur and ARGV[3] == '1' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
