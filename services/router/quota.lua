-- Shared token buckets, each refilled continuously at its capacity per minute; taken all or nothing.
-- KEYS: one bucket per limit. ARGV: per bucket: capacity, cost (0 = only look; negative = give back).
-- Returns {0 or the index of the first bucket that is short, then the level left in each bucket}.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local levels, short = {}, 0
for i, key in ipairs(KEYS) do
  local cap, cost = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', key, 'level', 'at')
  local level = tonumber(state[1]) or cap
  local at = tonumber(state[2]) or now
  levels[i] = math.min(cap, level + (now - at) * cap / 60)
  if cost > 0 and levels[i] < cost and short == 0 then short = i end
end
local out = {short}
for i, key in ipairs(KEYS) do
  local cap, cost = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  if short == 0 then
    levels[i] = math.min(cap, levels[i] - cost)
    redis.call('HSET', key, 'level', levels[i], 'at', now)
    redis.call('EXPIRE', key, 120)
  end
  out[i + 1] = math.floor(levels[i])
end
return out
