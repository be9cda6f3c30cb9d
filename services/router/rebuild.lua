-- Load the spend summed from the run log (Postgres) into an empty ledger, once: the first replica wins.
-- KEYS: the ledger marker, then spend keys. ARGV: per spend key, its amount in USD.
-- A day's or month's spend key lives 35 days (as in reserve.lua); an all-time key ("...:all") stays.
if redis.call('SET', KEYS[1], '1', 'NX') == false then return 0 end
for i = 2, #KEYS do
  if string.sub(KEYS[i], -4) == ':all' then
    redis.call('SET', KEYS[i], ARGV[i - 1])
  else
    redis.call('SET', KEYS[i], ARGV[i - 1], 'EX', 35 * 86400)
  end
end
return 1
