--[[
  Stores a complete object: its bytes and its metadata, together, with one TTL.
  Input:
    KEYS[1] metadata hash
    KEYS[2] bytes
    ARGV[1] bytes
    ARGV[2] ttl (s)
    ARGV[3] metadata (JSON: ct, cc, etag, sha, len, lm)
  Output: 1
]]
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[2])
return 1
