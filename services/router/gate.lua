-- The circuit breaker and the per-minute quota of one provider:model, shared by every router replica.
-- Breaker: closed until ARGV[2] consecutive failures; then open for ARGV[3] seconds; then half-open: one probe
-- call at a time (a probe slot lasts ARGV[4] seconds), whose success closes it and whose failure opens it again.
-- Quota: two token buckets (requests, tokens), each refilled continuously at its capacity per minute.
-- KEYS: the breaker, the requests bucket, the tokens bucket.
-- ARGV: op, failures to open, cooldown_s, probe_s, requests per minute, tokens per minute (-1 = unlimited), tokens.
-- op "allow": pass the breaker and take 1 request and ARGV[7] tokens, all or nothing (a half-open breaker's
-- probe slot is claimed); "look": change nothing; "success" / "failure": a call's outcome, for the breaker.
-- Returns {what blocked ("" = passed, "breaker", "requests" or "tokens"), breaker state, requests left,
-- tokens left (-1 = unlimited)}.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local op, breaker = ARGV[1], KEYS[1]
local opened = tonumber(redis.call('HGET', breaker, 'opened_at'))
if op == 'success' then
  redis.call('DEL', breaker)
  return {'', 'closed', -1, -1}
elseif op == 'failure' then
  if opened or redis.call('HINCRBY', breaker, 'failures', 1) >= tonumber(ARGV[2]) then
    redis.call('HSET', breaker, 'opened_at', now, 'probe_until', 0)
    return {'', 'open', -1, -1}
  end
  return {'', 'closed', -1, -1}
end
local state, blocked = 'closed', false
if opened then
  state = now < opened + tonumber(ARGV[3]) and 'open' or 'half_open'
  blocked = state == 'open' or tonumber(redis.call('HGET', breaker, 'probe_until')) > now
end
local caps, costs, names = {tonumber(ARGV[5]), tonumber(ARGV[6])}, {1, tonumber(ARGV[7])}, {'requests', 'tokens'}
local levels, short = {-1, -1}, ''
for i = 1, 2 do
  if caps[i] >= 0 then
    local bucket = redis.call('HMGET', KEYS[i + 1], 'level', 'at')
    local level, at = tonumber(bucket[1]) or caps[i], tonumber(bucket[2]) or now
    levels[i] = math.min(caps[i], level + (now - at) * caps[i] / 60)
    if levels[i] < costs[i] and short == '' then short = names[i] end
  end
end
if op == 'allow' and not blocked and short == '' then
  for i = 1, 2 do
    if caps[i] >= 0 then
      levels[i] = levels[i] - costs[i]
      redis.call('HSET', KEYS[i + 1], 'level', levels[i], 'at', now)
      redis.call('EXPIRE', KEYS[i + 1], 120)
    end
  end
  if state == 'half_open' then redis.call('HSET', breaker, 'probe_until', now + tonumber(ARGV[4])) end
elseif op == 'allow' then
  return {blocked and 'breaker' or short, state, math.floor(levels[1]), math.floor(levels[2])}
end
return {'', state, math.floor(levels[1]), math.floor(levels[2])}
