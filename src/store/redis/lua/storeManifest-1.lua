--[[
  Stores a rendered manifest unless a newer one is already there, so several manifest workers never replace a
  newer manifest with an older one.
  Input:
    KEYS[1] manifest hash
    ARGV[1] version the manifest was rendered from
    ARGV[2] body
    ARGV[3] ttl (s)
    ARGV[4] last media sequence number in it (-1 if none)
    ARGV[5] last part index (-1 if none)
    ARGV[6] render time (Unix ms), for Last-Modified
    ARGV[7] target duration it was rendered with (s)
  Output: 1 stored, 0 refused (a newer version is stored)
]]
local cur = tonumber(redis.call('HGET', KEYS[1], 'v') or '-1')
if tonumber(ARGV[1]) < cur then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'body', ARGV[2], 'msn', ARGV[4], 'part', ARGV[5], 't', ARGV[6],
  'target', ARGV[7])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
