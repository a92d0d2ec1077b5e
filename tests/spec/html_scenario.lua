--- A small classify run whose data is hostile to a web page, for the report.html and
-- notices specs: a brand named <script>…</script> in the TAC database, a condition whose
-- reason is an <img onerror=…>, dumps in a folder whose name holds markup; and notice
-- templates in English, Urdu, Arabic and French. Every count is known.
local imei = require "imei"
local support = require "support"

local scenario = {}

local function cd(body) return body .. imei.check_digit(body) end
scenario.cd = cd

-- devices (14-digit keys) and subscribers
scenario.D1, scenario.D2, scenario.D3 = "35209900176148", "49015420323751", "35000000000003"
scenario.D4, scenario.D5, scenario.D6 = "35000000000004", "35000000000005", "35000000000006"
function scenario.S(n) return ("4100100000000%02d"):format(n) end
function scenario.M(n) return ("9230000000%02d"):format(n) end
local D1, D2, D3, D4, D5, D6, S, M = scenario.D1, scenario.D2, scenario.D3, scenario.D4, scenario.D5, scenario.D6,
  scenario.S, scenario.M

scenario.EVIL_BRAND = "<script>document.title='pwned'</script>"
scenario.EVIL_REASON = "<img src=x onerror=document.title='pwned'>"
scenario.EVIL_DIR = "dumps<i>x</i>"

scenario.POLICY = [[
local P = policy.new { name = "html", version = "1" }
P:requires_list("stolen", { min_rows = 0 })
P:condition { name = "stolen", status = "BLACKLISTED", max_ratio = 1, reason = "EVIL_REASON",
  when = function(d) return d.key ~= nil and lists.stolen:has(d.key) end }
P:condition { name = "unregistered", status = "BLACKLISTED", grace_days = 30, max_ratio = 1,
  when = function(d) return d.imei_kind ~= nil and not lists.registration:has(d.key) end }
return P
]]

-- The notice templates: commas, quotes, a line end and braces in English; Urdu, Arabic
-- (right to left) and French with accents.
scenario.TEMPLATES = {
  ["unregistered.en.txt"] = 'Your phone {imei} is not registered, "as the law requires".\n' ..
    "It will be blocked on {block_date} ({{{reasons}}}).\n",
  ["unregistered.ur.txt"] = "آپ کا فون {imei} رجسٹرڈ نہیں ہے۔ یہ {block_date} کو بلاک کر دیا جائے گا۔\n",
  ["default.ar.txt"] = "سيتم حظر هاتفك {imei} في {block_date_dmy} ({condition}).\n",
  ["default.fr.txt"] = "Votre {brand} {model} {imei} sera bloqué le {block_date_dmy} (opérateur {operator}).\n",
  ["README.md"] = "not a template: ignored\n",
}

local function csv(lines) return table.concat(lines, "\n") .. "\n" end
scenario.csv = csv

--- Write the scenario into dir: lists/, tacdb.csv, policy.lua, notices/, dumps. Returns
-- the options of classify.run (without out).
function scenario.write(dir)
  os.execute("mkdir -p '" .. dir .. "/lists' '" .. dir .. "/notices' '" .. dir .. "/" .. scenario.EVIL_DIR .. "'")
  support.write(dir .. "/lists/registration.csv", csv { "approved_imei,make,model,status",
    cd(D1) .. ",Make,Model,whitelist" })
  support.write(dir .. "/lists/stolen.csv", csv { "imei,reporting_date,status", cd(D2) .. ",20251201,blacklist" })
  support.write(dir .. "/lists/pairing.csv", csv { "imei,imsi,msisdn" })
  support.write(dir .. "/tacdb.csv", csv {
    "Osmocom TAC database under CC-BY-SA v3.0 (c) Harald Welte 2016",
    "tac,name,name,contributor,comment,gsmarena,gsmarena,aka",
    "35209900,Nokia,3310,,,,,",
    "49015420," .. scenario.EVIL_BRAND .. ",X,,,,,",
    "35000000,Café Ünïcode,Y,,,,,",
  })
  local policy = support.write(dir .. "/policy.lua", (scenario.POLICY:gsub("EVIL_REASON", scenario.EVIL_REASON)))
  for name, body in pairs(scenario.TEMPLATES) do support.write(dir .. "/notices/" .. name, body) end
  local d = dir .. "/" .. scenario.EVIL_DIR
  local alpha = support.write(d .. "/Alpha_North_20260101_20260131.csv", csv {
    "date,imei,imsi,msisdn,rat",
    "20260101," .. cd(D1) .. "," .. S(1) .. "," .. M(1) .. ",EUTRAN",  -- registered: white
    "20260131," .. cd(D1) .. "," .. S(1) .. "," .. M(1) .. ",EUTRAN",
    "20260120," .. cd(D2) .. "," .. S(2) .. "," .. M(2) .. ",EUTRAN",  -- stolen: blocked
    "20260101," .. cd(D3) .. "," .. S(3) .. "," .. M(3) .. ",EUTRAN",  -- unregistered 30 days: blocked 0131
    "20260120," .. cd(D4) .. "," .. S(4) .. "," .. M(4) .. ",EUTRAN",  -- notified, blocked from 0219
    "20260125," .. cd(D5) .. "," .. S(5) .. ",,EUTRAN",               -- notified (no MSISDN), from 0224
  })
  local beta = support.write(d .. "/Beta_North_20260101_20260131.csv", csv {
    "date,imei,imsi,msisdn",
    "20260115," .. cd(D6) .. "," .. S(6) .. "," .. M(6),              -- notified, from 0214
  })
  return { policy = policy, lists = dir .. "/lists", tacdb = dir .. "/tacdb.csv", dumps = { alpha, beta },
           jobs = 1, notices = dir .. "/notices" }
end

--- Write the scenario into dir and run classify into dir/out (extra: more options, or
-- edit(opts) to change them). Returns the result and the options.
function scenario.run(dir, edit)
  local opts = scenario.write(dir)
  opts.out = dir .. "/out"
  if edit then edit(opts) end
  return assert(require("imei.classify").run(opts)), opts
end

--- A what-if section in the shape docs/classify.md gives report.json's `compare`.
function scenario.compare()
  return {
    old = { name = "html", version = "0", file = "old.lua" },
    new = { name = "html", version = "1", file = "new.lua" },
    devices = { total = 6, changed = 2, verdict = 2, block_date = 0, notification = 1, newly_blocked = 1,
                unblocked = 1, newly_notified = 1, no_longer_notified = 0, blocked_old = 2, blocked_new = 2,
                notified_old = 2, notified_new = 3 },
    subscribers = { pairs = 6, pairs_changed = 2, verdict = 2, block_date = 0, notification = 1, imsis_changed = 2 },
    transitions = { { old = "WHITELISTED", new = "BLACKLISTED", devices = 1 } },
    conditions = {
      { name = "stolen", in_old = true, in_new = true,
        old = { devices = 1, devices_blocked = 1, devices_grace = 0, share = 1 / 6, max_ratio = 0.1,
                max_ratio_default = true, over_ratio = true },
        new = { devices = 1, devices_blocked = 1, devices_grace = 0, share = 1 / 6, max_ratio = 1,
                max_ratio_default = false, over_ratio = false },
        newly_matched = 0, no_longer_matched = 0, newly_blocked = 0, no_longer_blocked = 0, newly_grace = 0,
        no_longer_grace = 0 },
    },
    safety = { old = { over_ratio = { "stolen" } }, new = { over_ratio = {} } },
    operators = { { name = "Alpha", devices_changed = 2, newly_blocked = 1, unblocked = 1, block_date = 0,
                    notification = 1 } },
    brands = { { brand = scenario.EVIL_BRAND, devices_changed = 1, newly_blocked = 1, unblocked = 0 } },
    rbi = { { rbi = "35", devices_changed = 2, newly_blocked = 1, unblocked = 1 } },
    examples = { { device = D3, imsi = S(3), operator = "Alpha", changes = { "verdict" },
                   old = { status = "WHITELISTED", notify = false, reasons = {} },
                   new = { status = "BLACKLISTED", block_date = "2026-01-31", notify = false,
                           reasons = { "unregistered" } } } },
  }
end

return scenario
