-- Replace a hold by the real cost of the call, on every scope it was held on.
-- KEYS: per scope: its spend key and its holds. ARGV: the hold's member, the cost in USD.
for i = 1, #KEYS / 2 do
  redis.call('ZREM', KEYS[2 * i], ARGV[1])
  redis.call('INCRBYFLOAT', KEYS[2 * i - 1], ARGV[2])
end
return 0
