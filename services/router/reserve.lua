-- Hold a pessimistic cost on every budget scope of one call, or on none if any scope would overspend.
-- KEYS: the ledger marker, then per scope: its spend key and its holds (sorted set, score = expiry time).
-- ARGV: member ("<id>:<amount>"), amount, hold ttl in seconds, then per scope: its limit in USD (-1 = none).
-- Returns 0 when held, i when scope i would overspend, -1 when the ledger must first be rebuilt from Postgres.
-- A day's or month's spend key lives 35 days (its period is over by then); an all-time key ("...:all") stays.
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local amount, ttl = tonumber(ARGV[2]), tonumber(ARGV[3])
local scopes = (#KEYS - 1) / 2
for i = 1, scopes do
  local spend, holds, limit = KEYS[2 * i], KEYS[2 * i + 1], tonumber(ARGV[3 + i])
  redis.call('ZREMRANGEBYSCORE', holds, '-inf', now)  -- holds of routers that died expire here
  if limit >= 0 then
    local committed = tonumber(redis.call('GET', spend) or '0') + amount
    for _, member in ipairs(redis.call('ZRANGE', holds, 0, -1)) do
      committed = committed + tonumber(string.match(member, ':([^:]*)$'))
    end
    if committed > limit + 1e-12 then return i end
  end
end
for i = 1, scopes do
  local spend, holds = KEYS[2 * i], KEYS[2 * i + 1]
  if string.sub(spend, -4) == ':all' then
    redis.call('SET', spend, '0', 'NX')
  else
    redis.call('SET', spend, '0', 'NX', 'EX', 35 * 86400)
  end
  redis.call('ZADD', holds, now + ttl, ARGV[1])
  redis.call('EXPIRE', holds, math.ceil(ttl) + 60)
end
return 0
