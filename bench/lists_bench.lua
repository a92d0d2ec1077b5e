-- lists_bench.lua — list membership from Lua (lua_lists.c) against the Lua peer, a table
-- with one entry per key (what a policy would build without the C lists), same run:
--   list:has(key14)            one C call on the frozen list
--   list:has(imei15)           the same from a 15-digit IMEI (parsed in C)
--   t[key14]                   a Lua table of 1,000,000 14-digit string keys
--   t[key] built from imei15   the peer's fair equivalent: s:sub(1, 14) then the lookup
-- and the memory each takes (the list's index vs collectgarbage("count") for the table).
-- Queries: 1,000,000, half members, in random order. Best of round-robin passes, os.clock.
-- Usage: lua5.4 bench/lists_bench.lua
local core = require "imei.core"

local N, Q, PASSES = 1000000, 1000000, 5

local seed = 88172645463325252
local function rnd(n)
  seed = seed ~ (seed << 13)
  seed = seed ~ (seed >> 7)
  seed = seed ~ (seed << 17)
  return (seed >> 1) % n
end

local function luhn(body)
  local sum = 0
  for i = 14, 1, -1 do
    local d = body:byte(i) - 48
    if (14 - i) % 2 == 0 then
      d = d * 2
      if d > 9 then d = d - 9 end
    end
    sum = sum + d
  end
  return body .. tostring((10 - sum % 10) % 10)
end

-- --- the list, as a CSV file (keys kept as numbers: no Lua string exists for them yet) --
local knum, rows = {}, { "imei,reporting_date" }
for i = 1, N do
  knum[i] = rnd(100000000000000)
  rows[i + 1] = ("%014d,20240101"):format(knum[i])
end
local path = os.tmpname()
do
  local f = assert(io.open(path, "wb"))
  f:write(table.concat(rows, "\n"), "\n")
  f:close()
end
rows = nil -- luacheck: ignore 311
collectgarbage()

local t0 = os.clock()
local list, report = assert(core.list_load(path, "bench"))
local load_s = os.clock() - t0
os.remove(path)

-- queries as a request would bring them: fresh strings, made in the order they are asked
local q14, q15 = {}, {}
for i = 1, Q do
  local k = ("%014d"):format(i % 2 == 1 and knum[rnd(N) + 1] or rnd(100000000000000))
  q14[i], q15[i] = k, luhn(k)
end

-- the peer: a Lua table with one string key per entry (the strings count: they are the table's)
collectgarbage()
collectgarbage()
local before = collectgarbage("count")
t0 = os.clock()
local set = {}
for i = 1, N do set[("%014d"):format(knum[i])] = true end
local build_s = os.clock() - t0
collectgarbage()
local table_bytes = (collectgarbage("count") - before) * 1024

-- --- the cases --------------------------------------------------------------------------
local cases = {
  { "list:has(key14)", function()
      local n, has = 0, list.has
      for i = 1, Q do if has(list, q14[i]) then n = n + 1 end end
      return n
    end },
  { "peer: t[key14]", function()
      local n = 0
      for i = 1, Q do if set[q14[i]] then n = n + 1 end end
      return n
    end },
  { "list:has(imei15)", function()
      local n, has = 0, list.has
      for i = 1, Q do if has(list, q15[i]) then n = n + 1 end end
      return n
    end },
  { "peer: t[imei15:sub(1, 14)]", function()
      local n, sub = 0, string.sub
      for i = 1, Q do if set[sub(q15[i], 1, 14)] then n = n + 1 end end
      return n
    end },
}

local best = {}
for _ = 1, PASSES do
  for c, case in ipairs(cases) do
    local s = os.clock()
    local hits = case[2]()
    local dt = os.clock() - s
    assert(hits >= Q // 2, case[1] .. ": members missing")
    if not best[c] or dt < best[c] then best[c] = dt end
  end
end

print(("list of %d keys from Lua (%d queries, half members; best of %d passes)"):format(N, Q, PASSES))
print(("  load: list_load %.0f ms (%d rows, %d loaded); peer: filling the Lua table %.0f ms")
  :format(load_s * 1e3, report.rows, report.loaded, build_s * 1e3))
print(("  memory: list %.1f bytes/entry (C, outside the Lua heap); Lua table %.1f bytes/entry (with its strings)")
  :format(list:bytes() / #list, table_bytes / N))
for c, case in ipairs(cases) do
  print(("  %-32s %7.1f ns/op  %6.2f M/s"):format(case[1], best[c] * 1e9 / Q, Q / best[c] / 1e6))
end
print(("  -> list:has(key14) at %.2fx the Lua table; list:has(imei15) at %.2fx")
  :format(best[2] / best[1], best[4] / best[3]))
