--[[
  Starts a STREAMING upload, superseding any other upload of the path (its chunks are dropped).
  Input:
    KEYS[1] upload record (JSON: id, ct, cc, st)
    KEYS[2] chunk list
    ARGV[1] upload record
    ARGV[2] ttl (s) of the upload and its chunks
  Output: 1
]]
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
