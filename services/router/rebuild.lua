-- Load the spend summed from the run log (Postgres) into an empty ledger, once: the first replica wins.
-- KEYS: the ledger marker, then spend keys. ARGV: per spend key: amount in USD and ttl (0 = none).
if redis.call('SET', KEYS[1], '1', 'NX') == false then return 0 end
for i = 2, #KEYS do
  local ttl = tonumber(ARGV[2 * i - 2])
  redis.call('SET', KEYS[i], ARGV[2 * i - 3])
  if ttl > 0 then redis.call('EXPIRE', KEYS[i], ttl) end
end
return 1
