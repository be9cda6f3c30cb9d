-- Shared token buckets, each refilled continuously at its capacity per minute; taken all or nothing.
-- KEYS: the requests bucket, the tokens bucket. ARGV: per bucket: capacity (-1 = unlimited), cost
-- (0 = only look). Returns {0, or 1/2 for the bucket that is short; then the level
-- left in each bucket, -1 when unlimited}.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local levels, short = {}, 0
for i, key in ipairs(KEYS) do
  local cap, cost = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  if cap >= 0 then
    local state = redis.call('HMGET', key, 'level', 'at')
    local level, at = tonumber(state[1]) or cap, tonumber(state[2]) or now
    levels[i] = math.min(cap, level + (now - at) * cap / 60)
    if cost > 0 and levels[i] < cost and short == 0 then short = i end
  else
    levels[i] = -1
  end
end
for i, key in ipairs(KEYS) do
  local cap, cost = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  if cap >= 0 and short == 0 then
    levels[i] = math.min(cap, levels[i] - cost)
    redis.call('HSET', key, 'level', levels[i], 'at', now)
    redis.call('EXPIRE', key, 120)
  end
end
return {short, math.floor(levels[1]), math.floor(levels[2])}
