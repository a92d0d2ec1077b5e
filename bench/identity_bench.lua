-- identity_bench.lua — validate 1,000,000 15-digit IMEIs from Lua (targets: docs/architecture.md "Targets"), same run:
--   imei.valid(s)                one C call per IMEI
--   pure-Lua Luhn                the same check written in Lua (string.byte, no C)
--   imei.validate_lines(buf)     one bulk call over a newline-separated buffer
--   python-stdnum                stdnum.imei.is_valid, bench/stdnum_bench.py (/usr/bin/python3)
--   npm fast-luhn, validator     optional: node + bench/node_modules (npm install --prefix bench)
-- Input: 97% valid, 2% spare digit 0, 1% another wrong check digit (seeded), written to a
-- temporary file the peers read too. Rates in M/s, best of round-robin passes, CPU time
-- (os.clock; the peers measure their own CPU time too).
-- Usage: lua5.4 bench/identity_bench.lua [C_RATE_MPS [C_BULK_MPS]]
-- (bench/run passes the C figures of bench/identity_bench.c from the same run).
local imei = require "imei"

local N = 1000000
local c_rate, c_bulk = tonumber(arg and arg[1]), tonumber(arg and arg[2])

-- --- input ------------------------------------------------------------------------------
local seed = 88172645463325252
local function rnd(n)
  seed = seed ~ (seed << 13)
  seed = seed ~ (seed >> 7)
  seed = seed ~ (seed << 17)
  return (seed >> 1) % n
end

local RBIS = { "35", "86", "01", "99", "49", "52", "45" }
local list, nvalid = {}, 0
for i = 1, N do
  local t = { RBIS[rnd(7) + 1] }
  for k = 2, 7 do t[k] = ("%02d"):format(rnd(100)) end
  local body = table.concat(t)
  local cd = imei.check_digit(body)
  local r = rnd(100)
  local last = r < 97 and cd or r < 99 and "0" or tostring((tonumber(cd) + 1 + rnd(9)) % 10)
  list[i] = body .. last
  if last == cd then nvalid = nvalid + 1 end
end
local buffer = table.concat(list, "\n") .. "\n"
local path = os.tmpname()
do
  local f = assert(io.open(path, "wb"))
  f:write(buffer)
  f:close()
end

-- --- pure-Lua Luhn (TS 23.003 Annex B), as fast as plain Lua makes it ----------------------
local byte = string.byte
local PLAIN, DOUBLED = {}, {} -- by byte value; nil for a non-digit
for d = 0, 9 do
  PLAIN[48 + d] = d
  DOUBLED[48 + d] = d < 5 and 2 * d or 2 * d - 9
end
local function lua_valid(s)
  if #s ~= 15 then return false end
  local sum = 0
  for i = 1, 15 do
    local v = (i % 2 == 0 and DOUBLED or PLAIN)[byte(s, i)]
    if not v then return false end
    sum = sum + v
  end
  return sum % 10 == 0
end

-- --- timing: round-robin passes, best CPU time of each ---------------------------------------
local clock = os.clock
local valid, validate_lines, validate_file = imei.valid, imei.validate_lines, imei.validate_file
local variants = {
  { name = "call", f = function()
    local n = 0
    for i = 1, N do
      if valid(list[i]) then n = n + 1 end
    end
    return n
  end },
  { name = "lua", f = function()
    local n = 0
    for i = 1, N do
      if lua_valid(list[i]) then n = n + 1 end
    end
    return n
  end },
  { name = "bulk", f = function() return validate_lines(buffer, { max_errors = 0 }).valid end },
  { name = "file", f = function() return validate_file(path, { max_errors = 0 }).valid end },
}
local PASSES = 7
local rates = {}
for _ = 1, PASSES do
  for _, v in ipairs(variants) do
    collectgarbage()
    local t0 = clock()
    local n = v.f()
    local dt = clock() - t0
    assert(n == nvalid, ("%s counted %d valid, expected %d"):format(v.name, n, nvalid))
    rates[v.name] = math.max(rates[v.name] or 0, N / dt / 1e6)
  end
end
local rate_call, rate_lua, rate_bulk, rate_file = rates.call, rates.lua, rates.bulk, rates.file

-- --- peers in other languages ---------------------------------------------------------------
local function run_peer(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  p:close()
  return out
end

local py_out = run_peer("/usr/bin/python3 bench/stdnum_bench.py " .. path)
local rate_py = tonumber(py_out:match("rate_mps=([%d.]+)"))
if rate_py then
  local py_valid = tonumber(py_out:match("valid=(%d+)"))
  assert(py_valid == nvalid, ("python-stdnum counted %s valid, expected %d"):format(py_valid, nvalid))
end

local node_out = run_peer("node bench/npm_bench.js " .. path)
local rate_fast_luhn = tonumber(node_out:match("fast%-luhn rate_mps=([%d.]+)"))
local rate_validator = tonumber(node_out:match("validator rate_mps=([%d.]+)"))

-- --- report --------------------------------------------------------------------------------
local function row(name, rate, note)
  io.write(("  %-40s %8.2f M/s%s\n"):format(name, rate, note or ""))
end
local function ratio(a, b, what) return ("  %6.1fx %s"):format(a / b, what) end

print(("Lua: validate %d 15-digit IMEIs (%d valid), one core"):format(N, nvalid))
row("imei.valid(s), one call per IMEI", rate_call, ratio(rate_call, rate_lua, "pure Lua") .. "  (target >= 10 M/s)")
row("pure-Lua Luhn", rate_lua)
if rate_py then
  row("python-stdnum imei.is_valid", rate_py, ratio(rate_call, rate_py, "slower than imei.valid"))
else
  io.write("  python-stdnum: not measured (" .. py_out:gsub("\n+$", "") .. "); run `make deps`\n")
end
if rate_fast_luhn then row("npm fast-luhn (node)", rate_fast_luhn) end
if rate_validator then row("npm validator isIMEI (node)", rate_validator) end
if not rate_fast_luhn and not rate_validator then
  io.write("  npm peers: not measured (", (node_out:match("[^\n]+") or "no output"), ")\n")
end
local bulk_note = c_rate and ratio(c_rate, rate_bulk, "below C imei_valid15 (target <= 2x)") or ""
row("imei.validate_lines(buffer), one call", rate_bulk, bulk_note)
row("imei.validate_file(path), one call", rate_file,
  c_rate and ratio(c_rate, rate_file, "below C imei_valid15") or "")
if c_bulk then row("(C imei_bulk_validate, same buffer)", c_bulk) end
os.remove(path)
