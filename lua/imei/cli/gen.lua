--- imei gen --out DIR [options] — realistic synthetic operator dumps (lua/imei/gen.lua),
-- deterministic for a seed, with matching lists when asked.
local gen_cmd = {}

function gen_cmd.configure(cmd)
  local D = require("imei.gen").DEFAULTS
  local function count(s) return math.tointeger(tonumber(s)) end
  cmd:option("--out", "Folder for the dumps (one file per operator)."):count(1)
  cmd:option("--seed", "Seed: the same seed gives the same files.", tostring(D.seed)):convert(count)
  cmd:option("--subscribers", "National subscribers.", nil):convert(count)
  cmd:option("--rows", "Stop after this many rows (subscribers derived from it unless given)."):convert(count)
  cmd:option("--days", "Days covered.", tostring(D.days)):convert(count)
  cmd:option("--start", "First date, YYYYMMDD.", D.start)
  cmd:option("--operators", "Operators as Name:MNC:share,... (default " .. D.operators .. " for MCC " .. D.mcc ..
    "; OperatorA:01:38,... elsewhere, 3-digit MNCs where the country uses them).")
  cmd:option("--mcc", "Mobile country code of the national IMSIs (E.212).", D.mcc)
  cmd:option("--cc", "Country code of the national MSISDNs (E.164; default " .. D.cc .. " for MCC " .. D.mcc ..
    ", required with another --mcc).")
  cmd:option("--region", "Region in the file names.", D.region)
  cmd:option("--tacdb", "TAC database to draw TACs from (default: the shipped osmocom-tacdb.csv, "
    .. "found in ./data, $IMEI_DATA_PATH or the installed share folder; an error when none is found).")
  cmd:option("--lists", "Also write stolen.csv, registration.csv and pairing.csv into this folder.")
  cmd:option("--damaged", "Share of damaged rows.", tostring(D.damaged)):convert(tonumber)
  cmd:option("--clone", "Share of subscribers on cloned IMEIs.", tostring(D.clone)):convert(tonumber)
  cmd:option("--unregistered", "Share of phones missing from registration.csv.", tostring(D.unregistered))
    :convert(tonumber)
  cmd:flag("--gzip", "Write .csv.gz files.")
  cmd:flag("--no-header", "No header line.")
  cmd:flag("--json", "Print the summary as JSON.")
  cmd:flag("-q --quiet", "Print nothing.")
  cmd:epilog([[
Files: Operator_Region_START_END.csv[.gz], rows date,imei,imsi,msisdn,rat sorted by date,
one per distinct date-IMEI-IMSI-MSISDN. Dates are UTC calendar days (TZ changes nothing).
With --lists, stolen.csv always holds at least one device in use. The summary counts what was put in: devices of each
kind and damaged rows of each kind (what imei classify should reject).

Example:
  imei gen --seed 7 --subscribers 20000 --days 30 --lists out/lists --out dumps/
  imei gen --mcc 262 --cc 49 --operators Telekom:01:40,Vodafone:02:35,O2:03:25 --out de/]])
end

function gen_cmd.run(args)
  local cli = require "imei.cli"
  local tacdb = args.tacdb
  if not tacdb then
    -- the shipped sample: ./data/, $IMEI_DATA_PATH, then the installed share folder;
    -- never invented TACs (classify would refuse nearly every device as unknown)
    local tried
    tacdb, tried = require("imei.paths").data("osmocom-tacdb.csv")
    if not tacdb then
      local places = { "data/osmocom-tacdb.csv" }
      for _, p in ipairs(tried or {}) do places[#places + 1] = p end
      return cli.fail("gen", "no TAC database to draw TACs from: give --tacdb FILE (the shipped " ..
        "osmocom-tacdb.csv was looked for in " .. table.concat(places, ", ") .. "; set IMEI_DATA_PATH to its folder)")
    end
  end
  local cc = args.cc
  if args.mcc ~= require("imei.gen").DEFAULTS.mcc and not cc then
    return cli.fail("gen", ("--mcc %s: give the country code of its MSISDNs too (--cc)"):format(args.mcc))
  end
  local summary, err = require("imei.gen").run {
    out = args.out, seed = args.seed, subscribers = args.subscribers, rows = args.rows, days = args.days,
    start = args.start, operators = args.operators, region = args.region, tacdb = tacdb, lists = args.lists,
    mcc = args.mcc, cc = cc,
    damaged = args.damaged, clone = args.clone, unregistered = args.unregistered, gzip = args.gzip,
    header = not args.no_header,
  }
  if not summary then return cli.fail("gen", err) end
  if args.json then
    io.write(require("imei.classify.text").json(summary, "  "), "\n")
  elseif not args.quiet then
    local text = require "imei.classify.text"
    io.write(("%s rows, %s subscribers over %d days (%s to %s), seed %d, MCC %s, country code %s, TACs from %s\n")
      :format(text.count(summary.rows), text.count(summary.subscribers), summary.days, summary.start, summary.stop,
        summary.seed, summary.mcc, summary.cc, summary.tacdb))
    for _, f in ipairs(summary.files) do io.write("  ", f, "\n") end
    local d = summary.devices
    io.write(("devices: %s clone groups (%s subscribers), junk %s, wrong CD %s, unknown TAC %s, test %s, " ..
      "MEID %s, malformed %s, IMEISV %s, IMEI14 %s, stolen %s, unregistered %s, roamers %s\n"):format(
      d.clone_groups, d.cloned_subscribers, d.junk, d.wrong_cd, d.unknown_tac, d.test_imei, d.meid, d.malformed,
      d.imeisv, d.imei14, d.stolen, d.unregistered, d.roamers))
    local kinds = {}
    for _, k in ipairs(require("imei.gen").DAMAGE_KINDS) do
      if summary.damaged_by_kind[k] > 0 then kinds[#kinds + 1] = k .. " " .. summary.damaged_by_kind[k] end
    end
    io.write(("damaged rows: %d%s\n"):format(summary.damaged, #kinds > 0 and (" (" .. table.concat(kinds, ", ") .. ")")
      or ""))
    if summary.lists then
      io.write(("lists in %s: registration %s, stolen %s, pairing %s\n"):format(summary.lists.folder,
        text.count(summary.lists.registration), text.count(summary.lists.stolen), text.count(summary.lists.pairing)))
    end
  end
  return 0
end

return gen_cmd
