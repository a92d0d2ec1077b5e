--- bench/explain_rate.lua — explanations per second beside checks per second, same
-- engine, same requests, interleaved in blocks (an explanation is asked for one request
-- at a time by customer care: its rate says what an admin listener can take).
local imei = require "imei"
local N = tonumber(arg and arg[1]) or 2000
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir))
local function write(name, text)
  local f = assert(io.open(dir .. "/" .. name, "w"))
  f:write(text)
  f:close()
end
write("stolen.csv", "imei\n490154203237518\n")
write("registration.csv", "imei\n352099001761481\n")
local store = assert(imei.sightings.open("memory"))
local NOW = 1767225600
for i = 1, 12 do
  store:record { key = "35209900176148", imsi = ("4100100000000%02d"):format(i), time = NOW - i * 86400 }
end
local engine = assert(imei.engine.new { policy = "policies/example-country.lua", lists = dir, store = store,
                                        tacdb = "data/osmocom-tacdb.csv" })
local requests = {
  { pei = "352099001761481", imsi = "410010000000005", operator = "410-01", time = NOW },
  { pei = "490154203237518", imsi = "410010000000001", operator = "410-01", time = NOW },
  { pei = "356938035643809", imsi = "234150000000001", operator = "234-15", time = NOW },
}
local check_t, explain_t = 0, 0
for _ = 1, 10 do
  local t = os.clock()
  for i = 1, N / 10 do engine:check(requests[i % #requests + 1]) end
  check_t = check_t + os.clock() - t
  t = os.clock()
  for i = 1, N / 10 do assert(engine:explain(requests[i % #requests + 1])) end
  explain_t = explain_t + os.clock() - t
end
print(("explain: %.0f explanations/s beside %.0f checks/s (%.1fx a check's time), %d each"):format(
  N / explain_t, N / check_t, explain_t / check_t, N))
engine:close()
os.execute("rm -rf " .. dir)
