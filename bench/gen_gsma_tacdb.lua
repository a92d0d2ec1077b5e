--- bench/gen_gsma_tacdb.lua [N] [SEED] OUT — write a synthetic GSMA-format TAC database of
-- N distinct TACs (default 250000), the same bytes for the same N and SEED (default 1).
-- For benchmarks; the brands and models are made up. Written to OUT.tmp, then renamed.
--   lua5.4 bench/gen_gsma_tacdb.lua 250000 1 build/bench/gsma-250k.txt
local n = tonumber(arg[1]) or 250000
local seed = tonumber(arg[2]) or 1
local out = arg[3]
if not out then
  io.stderr:write("usage: lua5.4 bench/gen_gsma_tacdb.lua [N] [SEED] OUT\n")
  os.exit(2)
end

-- a 64-bit LCG (Knuth's MMIX constants); integers wrap around in Lua 5.4
local state = seed * 2654435761 + 1
local function rand(k) -- 0 .. k-1
  state = state * 6364136223846793005 + 1442695040888963407
  return ((state >> 33) & 0x7FFFFFFF) % k
end
local function pick(t) return t[rand(#t) + 1] end

local SYL = { "ka", "lo", "ri", "zen", "tor", "vi", "qua", "mo", "nex", "sol", "dra", "pe", "lux", "ar", "tin",
  "ob", "ul", "fe", "cor", "ya" }
local function word(parts)
  local w = {}
  for i = 1, parts do w[i] = pick(SYL) end
  local s = table.concat(w)
  return s:sub(1, 1):upper() .. s:sub(2)
end

local SUFFIX = { " Mobile", " Devices Ltd", " Telecom", " Electronics Co.", " Wireless Inc.", "" }
local makers = {}
for i = 1, 400 do
  local brand = word(2 + rand(2))
  makers[i] = { brand = brand, name = brand .. pick(SUFFIX), code = ("%06d"):format(rand(1000000)) }
end

local GSM = "GSM 850, GSM 900, GSM 1800, GSM 1900"
local PROFILES = {
  { bands = GSM, radio = "GPRS", types = { "Feature phone", "Handheld", "Modem" } },
  { bands = GSM .. ", EDGE", radio = "EDGE", types = { "Feature phone", "Handheld", "IoT Device" } },
  { bands = GSM .. ", WCDMA FDD Band I, WCDMA FDD Band VIII, HSPA", radio = "HSPA",
    types = { "Smartphone", "Modem", "Feature phone" } },
  { bands = GSM .. ", WCDMA FDD Band I, LTE FDD BAND 1, LTE FDD BAND 3, LTE FDD BAND 7, LTE TDD BAND 40",
    radio = "LTE", types = { "Smartphone", "Tablet", "Modem", "IoT Device" } },
  { bands = "LTE FDD BAND 3, LTE FDD BAND 20, CA_3A-20A", radio = "LTE", types = { "IoT Device", "Modem" } },
  { bands = GSM .. ", WCDMA FDD Band I, LTE FDD BAND 1, LTE FDD BAND 3, NR n78, NR n41", radio = "NR",
    types = { "Smartphone", "Tablet" } },
}
local OS = { "Android", "iOS", "KaiOS", "Proprietary", "Not Known", "Linux" }
local MON = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" }
local RBI = { "35", "35", "35", "35", "35", "86", "86", "86", "01", "99", "44", "45", "49", "33", "52", "10" }
local KNOWN = { "Yes", "No", "Not Known" }

local rows = {
  "TAC|Marketing Name|Internal Model Name|Manufacturer|Bands|Allocation Date|Country Code|Fixed Code|" ..
  "Manufacturer Code|Radio Interface|Brand Name|Model Name|Operating System|NFC|Bluetooth|WLAN|Device Type",
}
local seen = {}
while #rows <= n do
  local tac = pick(RBI) .. ("%06d"):format(rand(1000000))
  if not seen[tac] then
    seen[tac] = true
    local m = pick(makers)
    local p = pick(PROFILES)
    local model = m.brand:sub(1, 2):upper() .. "-" .. (100 + rand(900)) .. pick({ "", "A", "F", "G", "X" })
    local marketing = m.brand .. " " .. word(1) .. " " .. (1 + rand(20))
    if rand(10) == 0 then marketing = '"' .. marketing .. ', ' .. (1 << (4 + rand(5))) .. 'GB"' end
    local date = ("%02d-%s-%d"):format(1 + rand(28), pick(MON), 2002 + rand(24))
    rows[#rows + 1] = table.concat({ tac, marketing, model, m.name, p.bands, date, tostring(rand(999)), "MANU",
      m.code, p.radio, m.brand, model, pick(OS), pick(KNOWN), pick(KNOWN), pick(KNOWN), pick(p.types) }, "|")
  end
end

local tmp = out .. ".tmp"
local f = assert(io.open(tmp, "wb"))
assert(f:write(table.concat(rows, "\r\n"), "\r\n"))
assert(f:close())
assert(os.rename(tmp, out))
