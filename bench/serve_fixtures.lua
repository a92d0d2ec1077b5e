--- bench/serve_fixtures.lua OUTDIR — request mix and lists for the EIR benchmarks
-- (bench/serve_bench.sh): OUTDIR/peis.txt (10,000 PEIs), OUTDIR/lists/registration.csv and
-- OUTDIR/lists/stolen.csv. IMEIs are built on TACs of data/osmocom-tacdb.csv with random
-- serial numbers and their Luhn check digit (TS 23.003 Annex B); 75 % of them registered,
-- 2 % stolen; 3 % unknown TACs, 1 % junk, 1 % MEIDs. Seeded: the same files every run.
local out = assert(arg[1], "usage: serve_fixtures.lua OUTDIR")

local function luhn(body)
  local sum, double = 0, true
  for i = #body, 1, -1 do
    local d = body:byte(i) - 48
    if double then
      d = d * 2
      if d > 9 then d = d - 9 end
    end
    sum, double = sum + d, not double
  end
  return body .. tostring((10 - sum % 10) % 10)
end

local tacs = {}
for line in io.lines("data/osmocom-tacdb.csv") do
  local tac = line:match("^(%d%d%d%d%d%d%d%d),")
  if tac then tacs[#tacs + 1] = tac end
end
assert(#tacs > 1000, "too few TACs in data/osmocom-tacdb.csv")

math.randomseed(20261128)
local peis, registered, stolen = {}, {}, {}
for _ = 1, 10000 do
  local r = math.random()
  local pei
  if r < 0.95 then
    local imei = luhn(tacs[math.random(#tacs)] .. ("%06d"):format(math.random(0, 999999)))
    pei = "imei-" .. imei
    if r < 0.75 then registered[#registered + 1] = imei end
    if r >= 0.93 then stolen[#stolen + 1] = imei end
  elseif r < 0.98 then
    pei = "imei-" .. luhn(("990%05d"):format(math.random(0, 99999)) .. ("%06d"):format(math.random(0, 999999)))
  elseif r < 0.99 then
    pei = "imei-000000000000000"
  else
    pei = ("A1%012X"):format(math.random(0, 0xFFFFFFFF))
  end
  peis[#peis + 1] = pei
end

local function write(path, lines)
  local f = assert(io.open(path, "w"))
  f:write(table.concat(lines, "\n"), "\n")
  f:close()
end
os.execute("mkdir -p '" .. out .. "/lists'")
write(out .. "/peis.txt", peis)
local reg = { "approved_imei,make,model,status" }
for _, imei in ipairs(registered) do reg[#reg + 1] = imei .. ",Example,Phone,approved" end
write(out .. "/lists/registration.csv", reg)
local st = { "imei,reporting_date,status" }
for _, imei in ipairs(stolen) do st[#st + 1] = imei .. ",20260101,stolen" end
write(out .. "/lists/stolen.csv", st)
print(("fixtures: %d PEIs, %d registered, %d stolen"):format(#peis, #registered, #stolen))
