--- imei tac compile|lookup|info — the TAC database from the command line.
--   imei tac compile IN OUT     load a GSMA or Osmocom file, print the load report, write
--                               a compiled image (temporary file + rename)
--   imei tac lookup DB ID...    the device of each identifier (DB: image or text file)
--   imei tac info DB            what a database holds and how big it is
-- Exit codes: 0 all good; 1 an identifier not found or invalid (lookup), rows rejected
-- with --strict (compile); 2 a file that cannot be read or written.
local tacdb = require "imei.tacdb"

local tac = {}

function tac.configure(cmd)
  cmd:command_target("tac_command")
  cmd:require_command(true)
  local compile = cmd:command("compile", "Load a GSMA or Osmocom TAC file, report, write a compiled image.")
  compile:argument("input", "The TAC file: GSMA (pipe-separated) or Osmocom (CSV); format detected.")
  compile:argument("output", "The compiled image to write.")
  compile:option("--format", "Input format."):choices({ "auto", "gsma", "osmocom" }):default("auto")
  compile:option("--duplicates", "Which row wins when a TAC repeats; 'error' stops."):choices({ "last", "first",
    "error" }):default("last")
  compile:option("--max-errors", "Rows listed per kind in the report."):default("20"):convert(function(s)
    local n = math.tointeger(tonumber(s))
    if n and n >= 0 then return n end
    return nil, "a count (an integer >= 0) expected"
  end)
  compile:flag("--strict", "Write nothing and exit 1 if any row was rejected.")
  compile:flag("--json", "Print the report as JSON.")
  compile:epilog([[
Rows that cannot be loaded are rejected and listed with their line and reason; the rest
is loaded. Repairs (a TAC's lost leading 0, blanks around fields) are counted and named.

Example:
  imei tac compile data/osmocom-tacdb.csv build/osmocom.tacdb]])

  local lookup = cmd:command("lookup", "Look devices up by IMEI, IMEISV, PEI or TAC.")
  lookup:argument("db", "TAC database: a compiled image or a GSMA/Osmocom text file.")
  lookup:argument("id", "Identifiers; '-' reads one per line from stdin."):args("+")
  lookup:flag("--json", "One JSON object per identifier, one per line.")
  lookup:epilog([[
The answer is the record of the longest key that starts the identifier: the 8-digit TAC,
or a longer (device) or shorter (range) key when the database has one.

Example:
  imei tac lookup data/sample-gsma-tac.txt 490154203237518 imei-352099001761481]])

  local info = cmd:command("info", "Show what a TAC database holds and its sizes.")
  info:argument("db", "TAC database: a compiled image or a GSMA/Osmocom text file.")
  info:flag("--json", "Print the figures as JSON.")
end

local function fail(message)
  return require("imei.cli").fail("tac", message)
end

local RAT_NAMES = { "2G", "3G", "4G", "5G" }

--- "2G 3G 4G" for a record's RAT mask.
function tac.rats(rec)
  local out = {}
  for i, name in ipairs(RAT_NAMES) do
    if rec.rat & (1 << (i - 1)) ~= 0 then out[#out + 1] = name end
  end
  return table.concat(out, " ")
end

--- One line naming the device: brand (or manufacturer), model, marketing name.
function tac.device_line(rec)
  local parts = { rec.brand or rec.manufacturer, rec.model }
  local line = table.concat(parts, " ")
  if rec.marketing_name and rec.marketing_name ~= rec.model then line = line .. " (" .. rec.marketing_name .. ")" end
  return line ~= "" and line or "(no name)"
end

--- The record as indented lines "label  value", for people; extra columns when full.
function tac.describe(rec, indent, full)
  local rows = {}
  local function line(label, value)
    if value and value ~= "" then rows[#rows + 1] = { label, value } end
  end
  line(#rec.tac == 8 and "TAC" or "key", rec.tac .. (#rec.tac ~= 8 and (" (" .. #rec.tac .. " digits)") or ""))
  line("manufacturer", rec.manufacturer)
  line("device type", rec.device_type)
  line("OS", rec.os)
  line("allocated", rec.allocation_date)
  line("RAT", tac.rats(rec))
  if full then
    line("bands", rec.bands)
    local names = {}
    for k in pairs(rec.extra or {}) do names[#names + 1] = k end
    table.sort(names)
    for _, k in ipairs(names) do line(k, rec.extra[k]) end
  end
  return (require("imei.cli.util").table(rows, indent):gsub("\n$", ""))
end

local function compile(args)
  local db, report = tacdb.load(args.input, {
    format = args.format, duplicates = args.duplicates, max_errors = args.max_errors,
  })
  if not db then return fail(report) end
  if report.format == "image" then report.source = args.input end
  if args.json then
    io.write(require("cjson").encode(report), "\n")
  else
    io.write(tacdb.format_report(report), "\n")
  end
  if args.strict and report.rejected > 0 then
    io.stderr:write("imei tac: ", report.rejected, " rows rejected; nothing written (--strict)\n")
    db:close()
    return 1
  end
  local ok, err = db:save(args.output)
  if not ok then
    db:close()
    return fail(err)
  end
  local st = db:stats()
  if not args.json then
    io.write(("wrote %s: %d records, %d bytes (index %.1f bytes per key)\n"):format(args.output, st.records,
      st.image_bytes, st.index_bytes_per_key))
  end
  db:close()
  return 0
end

local each_input = require("imei.cli.util").each_input

local function lookup(args)
  local db, err = tacdb.load(args.db)
  if not db then return fail(err) end
  local cjson = args.json and require "cjson"
  local all = true
  for input in each_input(args.id) do
    local rec, why = db:lookup(input)
    all = all and rec ~= nil
    if cjson then
      io.write(cjson.encode({ input = input, found = rec ~= nil, error = why, device = rec }), "\n")
    elseif rec then
      io.write(("%s  %s\n%s\n"):format(input, tac.device_line(rec), tac.describe(rec, "  ", true)))
    elseif why then
      io.write(("%s  INVALID: %s\n"):format(input, why))
    else
      io.write(("%s  not found\n"):format(input))
    end
  end
  db:close()
  return all and 0 or 1
end

local function info(args)
  local db, err = tacdb.load(args.db)
  if not db then return fail(err) end
  local st = db:stats()
  st.source = args.db
  if args.json then
    io.write(require("cjson").encode(st), "\n")
  else
    io.write(("%s: %d records (%d TACs, %d other keys)\n"):format(args.db, st.records, st.tacs, st.other_keys))
    io.write(("  image    %d bytes%s\n"):format(st.image_bytes, st.mapped and " (mapped)" or ""))
    io.write(("  index    %d bytes, %.1f per key (2^%d buckets, %d trie nodes)\n"):format(
      st.index_bytes, st.index_bytes_per_key, st.bucket_bits, st.trie_nodes))
    io.write(("  records  %d bytes; extra columns %d bytes; strings %d bytes\n"):format(st.record_bytes,
      st.extra_bytes, st.string_bytes))
  end
  db:close()
  return 0
end

function tac.run(args)
  if args.tac_command == "compile" then return compile(args) end
  if args.tac_command == "lookup" then return lookup(args) end
  return info(args)
end

return tac
