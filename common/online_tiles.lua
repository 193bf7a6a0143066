-- Folds one event into its key's tiles (featurestream online store, issue 17, decision 76): a
-- busy key keeps mergeable partial aggregates per tile instead of a log of its events, and
-- readers merge the tiles of a window at read time T.
-- KEYS[1]  fst:<view>:v<N>:<entity key>   (a hash)
-- ARGV[1]  event time, epoch millis
-- ARGV[2]  the event as a log member: the JSON array [<event id>,<value>,...] (online_events.lua)
-- ARGV[3]  keep: tiles starting more than this before the newest event are trimmed, millis
-- ARGV[4]  TTL in milliseconds (0: none)
-- ARGV[5]  tile length, millis (> 0)
-- ARGV[6]  parts, one entry per value, comma-separated: letters of 'nslhwd' (decision 76)
-- Fields: '@t' newest event time, '@e' its member, '@f' the member of the first event folded
-- since the hash was created (readers tell a hash created again, after it expired, from the one
-- they cached), '<tile start>' [count,[parts 0],[parts 1],...]
-- Returns 1 when the event was folded, 0 when it is not after '@t'/'@e' (time, then id bytewise):
-- the window function releases a key's events in that order, so such an event is a replay of
-- one already folded, and folding it again would count it twice.
-- Numbers are Lua doubles, written with '%.17g' so that they read back exactly.
local time = tonumber(ARGV[1])
local member = ARGV[2]
local event = cjson.decode(member)
local id = event[1]

-- Bytewise, not '<': Redis sets LC_COLLATE from its environment, and Lua compares with strcoll.
local function after(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then
      return x > y
    end
  end
  return #a > #b
end

local newest = redis.call('HMGET', KEYS[1], '@t', '@e')
if newest[1] then
  local stored = tonumber(newest[1])
  if time < stored or (time == stored and not after(id, cjson.decode(newest[2])[1])) then
    return 0
  end
end

local null = cjson.null
local special = { NaN = 0 / 0, Infinity = 1 / 0, ['-Infinity'] = -1 / 0 }
local function tonum(v)
  if type(v) == 'string' then
    return special[v] or error('not a number: ' .. v)
  end
  return v
end
local function num(x)
  if x ~= x then
    return '"NaN"'
  elseif x == 1 / 0 then
    return '"Infinity"'
  elseif x == -1 / 0 then
    return '"-Infinity"'
  end
  return string.format('%.17g', x)
end
local function value(v)
  if v == null then
    return 'null'
  elseif type(v) == 'number' then
    return num(v)
  elseif type(v) == 'boolean' then
    return v and 'true' or 'false'
  end
  return cjson.encode(v)
end

local parts = {}
for p in string.gmatch(ARGV[6] .. ',', '([^,]*),') do
  parts[#parts + 1] = p
end
if #parts ~= #event - 1 then
  return redis.error_reply('online_tiles: ' .. #parts .. ' parts for ' .. (#event - 1) .. ' values')
end

local tile = tonumber(ARGV[5])
local start = string.format('%.0f', math.floor(time / tile) * tile)
local stored = redis.call('HGET', KEYS[1], start)
local old = stored and cjson.decode(stored) or nil
local count = old and old[1] or 0
local columns = {}
for c, letters in ipairs(parts) do
  local prior = old and old[c + 1] or {}
  local v = event[c + 1]
  local present = v ~= null
  local out = {}
  local j = 1
  local n = 0
  for k = 1, #letters do
    local letter = string.sub(letters, k, k)
    if letter == 'n' then
      n = (prior[j] or 0) + (present and 1 or 0)
      out[#out + 1] = num(n)
      j = j + 1
    elseif letter == 's' then
      local s = tonum(prior[j] or 0)
      out[#out + 1] = num(present and s + tonum(v) or s)
      j = j + 1
    elseif letter == 'l' or letter == 'h' then
      local m = prior[j]
      if m == nil or m == null then
        m = present and tonum(v) or null
      elseif present then
        local x = tonum(v)
        m = tonum(m)
        if (letter == 'l' and x < m) or (letter == 'h' and x > m) then
          m = x
        end
      end
      out[#out + 1] = m == null and 'null' or num(m)
      j = j + 1
    elseif letter == 'w' then
      -- Welford: n is this column's count after the event ('w' needs 'n' before it).
      local mean, m2 = tonum(prior[j] or 0), tonum(prior[j + 1] or 0)
      if present then
        local x = tonum(v)
        local delta = x - mean
        mean = mean + delta / n
        m2 = m2 + delta * (x - mean)
      end
      out[#out + 1] = num(mean) .. ',' .. num(m2)
      j = j + 2
    elseif letter == 'd' then
      local list = prior[j] or {}
      local text
      if type(v) == 'string' or type(v) == 'boolean' then
        -- Strings and booleans compare exactly with == and encode as they are stored: the list
        -- is encoded in one call, not a value at a time (a busy tile's list is its dearest part).
        local seen = false
        for _, d in ipairs(list) do
          if d == v then
            seen = true
            break
          end
        end
        if not seen then
          list[#list + 1] = v
        end
        text = cjson.encode(list)
      else
        local texts = {}
        local seen = {}
        for _, d in ipairs(list) do
          local t = value(d)
          seen[t] = true
          texts[#texts + 1] = t
        end
        if present then
          local t = value(v)
          if not seen[t] then
            texts[#texts + 1] = t
          end
        end
        text = '[' .. table.concat(texts, ',') .. ']'
      end
      out[#out + 1] = text
      j = j + 1
    else
      return redis.error_reply('online_tiles: unknown part ' .. letter)
    end
  end
  columns[c] = '[' .. table.concat(out, ',') .. ']'
end
local text = '[' .. num(count + 1) .. (#columns > 0 and ',' or '') .. table.concat(columns, ',') .. ']'

if not stored and newest[1] then
  -- A new tile: the newest event moved, so tiles may have left every window a read can ask for.
  -- Every earlier tile opening trimmed below its own horizon, and the previous newest event's
  -- tile opened at or after that tile's start, so only tiles from (that start - keep) on can be
  -- left: delete those below the new horizon by name, or scan the hash when a long gap makes
  -- that more names than the hash has fields.
  local keep = tonumber(ARGV[3])
  local horizon = time - keep
  local from = math.floor((math.floor(tonumber(newest[1]) / tile) * tile - keep) / tile) * tile
  if (horizon - from) / tile <= redis.call('HLEN', KEYS[1]) then
    local names = {}
    for s = from, horizon - 1, tile do
      names[#names + 1] = string.format('%.0f', s)
    end
    if #names > 0 then
      redis.call('HDEL', KEYS[1], unpack(names))
    end
  else
    for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
      local s = tonumber(field)
      if s and s < horizon then
        redis.call('HDEL', KEYS[1], field)
      end
    end
  end
end
redis.call('HSET', KEYS[1], start, text, '@t', ARGV[1], '@e', member)
if not newest[1] then
  redis.call('HSET', KEYS[1], '@f', member)
end
local ttl = tonumber(ARGV[4])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return 1
