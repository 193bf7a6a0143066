-- Newer-wins write of one feature vector (featurestream online store).
-- KEYS[1]  fs:<view>:v<N>:<entity key>
-- ARGV[1]  event time of the vector, epoch millis
-- ARGV[2]  id of the event that produced it (breaks ties between same-time events)
-- ARGV[3]  view version
-- ARGV[4]  TTL in milliseconds (0: none)
-- ARGV[5..] feature name, value, feature name, value ... (a null feature is simply absent)
-- Returns 1 when written, 0 when the stored vector is newer (replays and out-of-order updates
-- never overwrite a newer value). Runs atomically in Redis, so compare and write cannot race.
local stored = redis.call('HMGET', KEYS[1], 'event_time', 'event_id')
if stored[1] then
  local incoming = tonumber(ARGV[1])
  local current = tonumber(stored[1])
  if incoming < current or (incoming == current and ARGV[2] < (stored[2] or '')) then
    return 0
  end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'event_time', ARGV[1], 'event_id', ARGV[2], 'version', ARGV[3],
  unpack(ARGV, 5))
local ttl = tonumber(ARGV[4])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
