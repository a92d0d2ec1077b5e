--- bench/engine_bench.lua — engine checks per second with the example country policy,
-- a real TAC database and lists, sandboxed (the engine) against the same policy run by
-- the same runtime directly in this Lua state (unsandboxed), in one run.
--   lua5.4 bench/engine_bench.lua [CHECKS]
local imei = require "imei"
local core = require "imei.core"
local runtime = require "imei.policy.runtime"

local N = tonumber(arg[1]) or 200000
local POLICY = "policies/example-country.lua"
local TACDB = "data/osmocom-tacdb.csv"

math.randomseed(20261128)

-- TACs of the real database, read straight from the CSV (first field, 8 digits)
local tacs = {}
for line in io.lines(TACDB) do
  local tac = line:match("^%s*(%d%d%d%d%d%d%d%d),")
  if tac then tacs[#tacs + 1] = tac end
end

local function device(i)
  local tac = tacs[(i * 7919) % #tacs + 1]
  local body = tac .. ("%06d"):format((i * 104729) % 1000000)
  return body .. core.check_digit(body)
end

-- lists: 70% of devices registered, 1% stolen, every 50th paired
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir))
local DEVICES = 50000
local reg = assert(io.open(dir .. "/registration.csv", "w"))
local stolen = assert(io.open(dir .. "/stolen.csv", "w"))
local pairing = assert(io.open(dir .. "/pairing.csv", "w"))
reg:write("approved_imei,make,model,status\n")
stolen:write("imei,reporting_date,status\n")
pairing:write("imei,imsi,msisdn\n")
for i = 1, DEVICES do
  local id = device(i)
  if i % 10 < 7 then reg:write(id, ",Make,Model,whitelist\n") end
  if i % 100 == 0 then stolen:write(id, ",20260101,blacklist\n") end
  if i % 50 == 0 then pairing:write(id, (",41001%010d,923%09d\n"):format(i, i)) end
end
reg:close(); stolen:close(); pairing:close()

local t0 = os.clock()
local db = assert(imei.tacdb.load(TACDB))
local t_tacdb = os.clock() - t0
local lists = assert(core.lists_load_dir(dir))
local store = assert(imei.sightings.open("memory"))
local NOW = 1767225600
for i = 1, DEVICES do -- a month of sightings; every 200th device cloned on 12 SIMs
  local sims = i % 200 == 0 and 12 or 1
  for s = 1, sims do
    store:record { key = device(i), imsi = ("41001%010d"):format(i * 13 + s), time = NOW - (s + i % 20) * 86400 }
  end
end

local requests = {}
for i = 1, N do
  local d = (i * 31) % DEVICES + 1
  local r = { pei = "imei-" .. device(d), imsi = ("41001%010d"):format(d * 13 + 1), operator = "410-01",
              rat = "EUTRAN", time = NOW }
  if i % 97 == 0 then r.pei = "35209900176148x" end      -- malformed
  if i % 89 == 0 then r.operator = "234-15" end           -- roamer
  requests[i] = r
end

local engine = assert(imei.engine.new { policy = POLICY, tacdb = db, lists = lists, store = store })
local direct = runtime.new { policy = POLICY, tacdb = db, lists = lists, store = store }

local function run(label, check)
  local counts = {}
  collectgarbage()
  local start = os.clock()
  for i = 1, N do
    local v = check(requests[i])
    counts[v.status] = (counts[v.status] or 0) + 1
  end
  local secs = os.clock() - start
  local mix = {}
  for status, n in pairs(counts) do mix[#mix + 1] = ("%s %.1f%%"):format(status, 100 * n / N) end
  table.sort(mix)
  print(("%-34s %9.0f checks/s  %6.2f us/check   [%s]"):format(label, N / secs, 1e6 * secs / N,
    table.concat(mix, ", ")))
  return N / secs
end

print(("engine bench: %d checks, %s, %d TACs (loaded in %.0f ms), %d devices, lists in %s"):format(
  N, POLICY, #db, t_tacdb * 1000, DEVICES, dir))
local sandboxed = run("engine (sandboxed, C engine)", function(r) return engine:check(r) end)
local unsandboxed = run("same runtime, unsandboxed (peer)", function(r)
  local copy = {}
  for k, v in pairs(r) do copy[k] = v end -- the engine copies the request too
  return direct.check(copy)
end)
print(("sandbox cost: %.2fx the unsandboxed time (%.0f%% slower)"):format(unsandboxed / sandboxed,
  100 * (unsandboxed / sandboxed - 1)))
local stats = engine:stats()
print(("engine memory: %.1f MiB of %.0f MiB; policy failures: %d"):format(stats.memory_used / 1048576,
  stats.memory_limit / 1048576, stats.failures))
os.execute("rm -rf " .. dir)
