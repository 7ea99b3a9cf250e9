--[[
  Counters that only increase (media sequence, discontinuity sequence, init id, longest part): a write never
  lowers one, so a retry, a restart or a late writer never makes a URL or a sequence number go backwards.
]]
local function raiseTo(hash, field, value)
  local cur = tonumber(redis.call('HGET', hash, field) or '-1')
  if value > cur then
    redis.call('HSET', hash, field, string.format('%d', value))
    return value
  end
  return cur
end

-- A segment with sequence number msn exists: the next one is msn + 1; its discontinuity sequence is seen.
local function raiseSequences(seq, rendition, msn, disc)
  raiseTo(seq, rendition .. ':nextMsn', msn + 1)
  raiseTo(seq, rendition .. ':disc', disc)
end
