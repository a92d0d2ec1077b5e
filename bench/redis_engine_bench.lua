--- bench/redis_engine_bench.lua — engine checks per second (wall clock) with the example
-- country policy recording each check's sighting and reading the device's sightings, on a
-- Redis store and, in the same run, on a memory store (the peer).
--   lua5.4 bench/redis_engine_bench.lua redis://127.0.0.1:PORT [CHECKS]
local imei = require "imei"

local SPEC, N = assert(arg[1], "usage: redis_engine_bench.lua REDIS_SPEC [CHECKS]"), tonumber(arg[2]) or 20000
local DEVICES = 5000
local function wall()
  local p = assert(io.popen("date +%s%N"))
  local ns = tonumber(p:read("l"))
  p:close()
  return ns / 1e9
end

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir))
local reg = assert(io.open(dir .. "/registration.csv", "w"))
reg:write("approved_imei,make,model,status\n")
local function device(i)
  local body = ("35209900%06d"):format(i)
  return body .. require("imei.core").check_digit(body)
end
for i = 1, DEVICES do reg:write(device(i), ",Make,Model,approved\n") end
reg:close()
-- the policy reads the stolen list, so it must be there (one device, beyond those checked)
local stolen = assert(io.open(dir .. "/stolen.csv", "w"))
stolen:write("imei,reporting_date,status\n", device(DEVICES + 1), ",20251201,blacklist\n")
stolen:close()

local requests = {}
local NOW = 1767225600
for i = 1, N do
  local d = (i * 31) % DEVICES + 1
  requests[i] = { pei = "imei-" .. device(d), imsi = ("41001%010d"):format(d * 13 + i % 3), operator = "410-01",
                  rat = "EUTRAN", time = NOW + i }
end

local function run(label, store)
  local engine = assert(imei.engine.new { policy = "policies/example-country.lua", tacdb = "data/osmocom-tacdb.csv",
                                          lists = dir, store = store, record = true })
  local counts = {}
  local start = wall()
  for i = 1, N do
    local v = engine:check(requests[i])
    counts[v.status] = (counts[v.status] or 0) + 1
  end
  local secs = wall() - start
  local mix = {}
  for status, n in pairs(counts) do mix[#mix + 1] = ("%s %d"):format(status, n) end
  table.sort(mix)
  print(("%-34s %9.0f checks/s  %7.1f us/check  [%s]"):format(label, N / secs, 1e6 * secs / N,
    table.concat(mix, ", ")))
  return N / secs
end

print(("engine checks (wall clock), %d checks over %d devices, recording each sighting"):format(N, DEVICES))
local m = run("memory store (peer)", "memory")
local r = run("redis store, loopback", SPEC)
print(("redis store: %.2fx the memory store's rate"):format(r / m))
os.execute("rm -rf " .. dir)
