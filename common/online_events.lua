-- Adds one event to an entity's event log (featurestream online store, issue 17): readers fold
-- the log at read time T, so every windowed feature is exact as of T, not as of the last event.
-- KEYS[1]  fse:<view>:v<N>:<entity key>   (a sorted set: score = event time, epoch millis)
-- ARGV[1]  event time, epoch millis
-- ARGV[2]  member: the JSON array [<event id>,<value>,...] (deterministic, so that a replayed
--          event is the same member and ZADD leaves the set as it was)
-- ARGV[3]  keep: how far behind the key's newest event the log keeps events, millis (> 0)
-- ARGV[4]  TTL in milliseconds (0: none)
-- Returns 1 when the event is in the log (added or already there), 0 when it is older than
-- newest - keep and than the one event kept before that: no read can need it.
-- Scores and times are Lua numbers (doubles): epoch millis are integers below 2^53, so they and
-- their differences are exact, and '%.0f' gives Redis the exact integer back.
local time = tonumber(ARGV[1])
local newest = time
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if top[2] then
  local stored = tonumber(top[2])
  if stored > newest then
    newest = stored
  end
end
local horizon = newest - tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
-- Trim below the horizon ('(': an event exactly keep behind the newest stays), except the
-- latest event there (the last by score, then member): a read between newest - margin and
-- newest needs the key's previous event for seconds_since_prev and last, however old it is
-- (decision 75). Whatever the write order, the log ends as the events at or after the horizon
-- plus the latest one before it.
local older = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. string.format('%.0f', horizon))
if older > 1 then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, older - 2)
end
if time < horizon and not redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  return 0
end
local ttl = tonumber(ARGV[4])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return 1
