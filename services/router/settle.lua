-- Replace a hold by the real cost of the call, on every scope it was held on.
-- KEYS: per scope: its spend key and its holds. ARGV: member, cost in USD, then per scope: spend key ttl (0 = none).
for i = 1, #KEYS / 2 do
  redis.call('ZREM', KEYS[2 * i], ARGV[1])
  redis.call('INCRBYFLOAT', KEYS[2 * i - 1], ARGV[2])
  local ttl = tonumber(ARGV[2 + i])
  if ttl > 0 then redis.call('EXPIRE', KEYS[2 * i - 1], ttl) end
end
return 0
