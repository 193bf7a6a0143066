-- Adds one event to an entity's event log (featurestream online store, issue 17): readers fold
-- the log at read time T, so every windowed feature is exact as of T, not as of the last event.
-- KEYS[1]  fse:<view>:v<N>:<entity key>   (a sorted set: score = event time, epoch millis)
-- ARGV[1]  event time, epoch millis
-- ARGV[2]  member: the JSON array [<event id>,<value>,...] (deterministic, so that a replayed
--          event is the same member and ZADD leaves the set as it was)
-- ARGV[3]  keep: how far behind the key's newest event the log keeps events, millis (> 0)
-- ARGV[4]  TTL in milliseconds (0: none)
-- Returns 1 when added (or already there), 0 when the event is older than newest - keep: no
-- read can need it, and adding it would only have it trimmed again.
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
if time < horizon then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
-- '(' makes the bound exclusive: an event exactly keep behind the newest stays.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%.0f', horizon))
local ttl = tonumber(ARGV[4])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return 1
