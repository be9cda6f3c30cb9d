-- A circuit breaker per provider:model, shared by every router replica.
-- Closed until ARGV[2] consecutive failures; then open for ARGV[3] seconds; then half-open: one probe call
-- at a time (a probe slot lasts ARGV[4] seconds), whose success closes it and whose failure opens it again.
-- KEYS[1]: the breaker. ARGV[1]: allow | success | failure | look. Returns {1 if a call may go, state}.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local op, key = ARGV[1], KEYS[1]
if op == 'success' then
  redis.call('DEL', key)
  return {1, 'closed'}
end
local opened = tonumber(redis.call('HGET', key, 'opened_at'))
if op == 'failure' then
  local failures = redis.call('HINCRBY', key, 'failures', 1)
  if opened or failures >= tonumber(ARGV[2]) then
    redis.call('HSET', key, 'opened_at', now, 'probe_until', 0)
    return {0, 'open'}
  end
  return {1, 'closed'}
end
if not opened then return {1, 'closed'} end
if now < opened + tonumber(ARGV[3]) then return {0, 'open'} end
if op == 'allow' and tonumber(redis.call('HGET', key, 'probe_until')) <= now then
  redis.call('HSET', key, 'probe_until', now + tonumber(ARGV[4]))
  return {1, 'half_open'}
end
return {0, 'half_open'}
