--- imei inspect ID... — show what an identifier is made of.
-- Exits 1 if any input is invalid: it does not parse, or its check digit is wrong.
local imei = require "imei"

local inspect = {}

function inspect.configure(cmd)
  cmd:argument("id", "Identifiers to inspect; '-' reads one per line from stdin."):args("+")
  cmd:flag("--json", "One JSON object per identifier, one per line.")
  cmd:option("--tacdb", "TAC database (compiled image or GSMA/Osmocom text): show each device.")
  cmd:epilog([[
Accepts 14, 15 or 16 digits (IMEI without CD, IMEI, IMEISV), the 5G PEI strings
imei-… and imeisv-…, MEIDs (14 hex digits, or 18 decimal) and ESNs (8 hex digits);
spaces and hyphens are ignored.

Examples:
  imei inspect 35-209900-176148-1
  imei inspect --json imei-490154203237518 A0000000002329
  imei inspect --tacdb data/sample-gsma-tac.txt 490154203237518
  cut -d, -f2 dump.csv | imei inspect -]])
end

local each_input = require("imei.cli.util").each_input

--- The verdict on one input: the parse (or nil), an error, and whether it is valid.
function inspect.examine(input)
  local id, err = imei.parse(input)
  if not id then return nil, err, false end
  if id.cd_ok == false then
    return id, ("wrong check digit %s (expected %s)"):format(id.cd, id.cd_expected), false
  end
  return id, nil, true
end

local KIND_TITLE = {
  imei = "IMEI", imei14 = "IMEI without check digit", imeisv = "IMEISV", meid = "MEID", esn = "ESN",
}

local function describe(input, id, problem, valid)
  local out = {}
  local function line(label, value) out[#out + 1] = ("  %-10s %s"):format(label, value) end
  if not id then
    return ("%s  INVALID: %s"):format(input, problem)
  end
  out[1] = ("%s  %s %s"):format(input, valid and "valid" or "INVALID", KIND_TITLE[id.kind])
  line("digits", id.digits)
  if id.key then
    line("key", id.key .. "  (the device identity: TAC + SNR)")
    local body = id.rbi_name and (" (" .. id.rbi_name .. ")") or " (unassigned)"
    line("TAC", id.tac .. ("  RBI %s%s"):format(id.rbi, body))
    line("SNR", id.snr)
  end
  if id.cd then
    local state = id.cd_ok and "correct" or ("WRONG, expected " .. id.cd_expected ..
      (id.spare and "; a spare 0 as handsets send it (TS 23.003 6.2.1)" or ""))
    line("CD", ("%s (%s)"):format(id.cd, state))
  elseif id.cd_expected and id.kind ~= "esn" then
    line("CD", id.cd_expected .. " (not given; this is the one the body calls for)")
  end
  if id.svn then line("SVN", id.svn .. (id.svn_reserved and "  (99 is reserved, TS 23.003 6.2.2)" or "")) end
  if id.pei then line("PEI", id.pei) end
  if id.pesn then line("pESN", id.pesn) end
  if id.decimal then line("decimal", id.decimal) end
  if id.test then line("note", "test IMEI range (RBI " .. id.rbi .. ")") end
  if id.junk then line("junk", id.junk:gsub("_", " ") .. " (a well-known invalid value)") end
  if problem then line("problem", problem) end
  return table.concat(out, "\n")
end

function inspect.run(args)
  local cjson = args.json and require "cjson"
  local db, tac
  if args.tacdb then
    local err
    db, err = imei.tacdb.load(args.tacdb)
    if not db then return require("imei.cli").fail("inspect", err) end
    tac = require "imei.cli.tac"
  end
  local all_valid = true
  for input in each_input(args.id) do
    local id, problem, valid = inspect.examine(input)
    all_valid = all_valid and valid
    local device = db and id and id.key and db:lookup(id.key)
    if cjson then
      local record = { input = input, valid = valid, error = problem, device = device or nil }
      for k, v in pairs(id or {}) do record[k] = v end
      io.write(cjson.encode(record), "\n")
    else
      io.write(describe(input, id, problem, valid), "\n")
      if device then
        io.write(("  %-10s %s\n"):format("device", tac.device_line(device)),
          tac.describe(device, "             "), "\n")
      elseif db and id and id.key then
        io.write(("  %-10s %s\n"):format("device", "TAC not in " .. args.tacdb))
      end
    end
  end
  if db then db:close() end
  return all_valid and 0 or 1
end

return inspect
