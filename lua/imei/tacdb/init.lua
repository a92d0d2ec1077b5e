--- imei.tacdb — the TAC database: device records by TAC (or any decimal prefix of 1 to 14
-- digits), longest-prefix lookups from a compact frozen image in C.
--
--   local tacdb = require "imei.tacdb"     -- also imei.tacdb
--   local db, report = tacdb.load("data/osmocom-tacdb.csv")   -- GSMA or Osmocom, detected
--   print(tacdb.format_report(report))
--   local rec = db:lookup("35675904 123456 7")   --> { tac = "35675904", brand = "Oppo", … }
--   db:save("tacs.img");  local db2 = tacdb.open("tacs.img")   -- mmap, opens in microseconds
--
-- db methods (from the C binding): lookup(id), lookup_many(lines), record(i), save(path),
-- stats(), image(), close(); #db; a db is also a to-be-closed value.
-- A record: { tac, brand, model, marketing_name, manufacturer, device_type, os, bands,
--   allocation_date = "YYYY-MM-DD", rat = bitmask, rats = { ["4G"] = true, … },
--   extra = { [column] = value } }; empty fields are absent. Records are shared between
-- lookups: read them, do not change them.
local core = require "imei.core"
local dsv = require "imei.tacdb.dsv"
local rep = require "imei.tacdb.report"

local tacdb = {}

--- RAT bits of record.rat.
tacdb.RAT = { ["2G"] = 1, ["3G"] = 2, ["4G"] = 4, ["5G"] = 8 }

--- The RAT bitmask of a GSMA bands text.
tacdb.rat_from_bands = core.tacdb_rat

--- The load report as text for people.
tacdb.format_report = rep.format

local LOADERS = { gsma = "imei.tacdb.gsma", osmocom = "imei.tacdb.osmocom" }
local FORMATS = { auto = true, gsma = true, osmocom = true, image = true }
local DUPLICATES = { last = true, first = true, error = true }

--- The format of a file's content: "image", "gsma" or "osmocom"; or nil and why not.
function tacdb.detect(text)
  if type(text) ~= "string" then error("bad argument #1 to 'detect' (string expected)", 2) end
  if text:sub(1, #core.tacdb_magic) == core.tacdb_magic then return "image" end
  local gsma, osmocom = require(LOADERS.gsma), require(LOADERS.osmocom)
  for _, line in ipairs(dsv.head(text, 6)) do
    if gsma.is_header(line) then return "gsma" end
    if osmocom.is_header(line) then return "osmocom" end
  end
  return nil, "cannot tell the format: not a compiled image, and no GSMA header (TAC|…) " ..
    "or Osmocom header (tac,…) in the first lines"
end

local function check_opts(fname, opts)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(("bad argument #2 to '%s' (table expected, got %s)"):format(fname, type(opts)), 3)
  end
  if opts.format ~= nil and not FORMATS[opts.format] then
    error(("bad option format '%s' to '%s' (auto, gsma, osmocom or image)"):format(tostring(opts.format), fname), 3)
  end
  if opts.duplicates ~= nil and not DUPLICATES[opts.duplicates] then
    error(("bad option duplicates '%s' to '%s' (last, first or error)"):format(tostring(opts.duplicates), fname), 3)
  end
  if opts.max_errors ~= nil and (math.type(opts.max_errors) ~= "integer" or opts.max_errors < 0) then
    error(("bad option max_errors to '%s' (an integer >= 0)"):format(fname), 3)
  end
  return opts
end

local function count_lines(text)
  local n, pos = 0, 1
  while true do
    local nl = text:find("\n", pos, true)
    if not nl then break end
    n, pos = n + 1, nl + 1
  end
  return n + (pos <= #text and 1 or 0)
end

local function load_text(text, opts, source)
  local format = opts.format
  if format == nil or format == "auto" then
    local err
    format, err = tacdb.detect(text)
    if not format then return nil, (source and source .. ": " or "") .. err end
  end
  local r = rep.new(source, format, opts.max_errors)
  if format == "image" then
    local db, err = core.tacdb_from_image(text)
    if not db then return nil, err end
    r.records = #db
    return db, r
  end
  r.lines = count_lines(text)
  if text:sub(1, 3) == "\239\187\191" then rep.note(r, "a UTF-8 byte order mark at the start was skipped") end
  local builder <close> = core.tacdb_builder(opts.duplicates == "first" and "first" or "last")
  local ok, err = require(LOADERS[format]).load(text, builder, r, opts)
  if not ok then return nil, (source and source .. ": " or "") .. err end
  local db, ferr = builder:freeze()
  if not db then return nil, ferr end
  r.records = #db
  return db, r
end

--- Load a TAC database from text (GSMA, Osmocom, or the bytes of a compiled image).
-- opts: format = "auto" | "gsma" | "osmocom" | "image"; duplicates = "last" (default) |
-- "first" | "error"; max_errors = rows listed per kind in the report (default 100).
-- Returns db, report; or nil, err when the whole text cannot be used.
function tacdb.load_string(text, opts)
  if type(text) ~= "string" then error("bad argument #1 to 'load_string' (string expected)", 2) end
  return load_text(text, check_opts("load_string", opts), nil)
end

--- Load a TAC database file: GSMA, Osmocom or a compiled image (which is opened with mmap).
function tacdb.load(path, opts)
  if type(path) ~= "string" then error("bad argument #1 to 'load' (string expected)", 2) end
  opts = check_opts("load", opts)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local head, rerr = f:read(#core.tacdb_magic)
  if rerr then
    f:close()
    return nil, ("%s: cannot read: %s"):format(path, rerr)
  end
  if head == core.tacdb_magic and (opts.format == nil or opts.format == "auto" or opts.format == "image") then
    f:close()
    local db, oerr = core.tacdb_open(path)
    if not db then return nil, oerr end
    local r = rep.new(path, "image", opts.max_errors)
    r.records = #db
    return db, r
  end
  local rest, err2 = f:read("a")
  f:close()
  if not rest then return nil, ("%s: cannot read: %s"):format(path, err2 or "unknown error") end
  return load_text((head or "") .. rest, opts, path)
end

--- Open a compiled image (mmap, validated). db, or nil and why.
function tacdb.open(path)
  if type(path) ~= "string" then error("bad argument #1 to 'open' (string expected)", 2) end
  return core.tacdb_open(path)
end

local STRING_FIELDS = { "brand", "model", "marketing_name", "manufacturer", "device_type", "os", "bands" }

--- Build a db from Lua tables: { { tac = "35675904", brand = "…", allocation_date =
-- "2013-04-26", extra = { name = value } … }, … }. Keys may be 1 to 14 digits.
-- opts.duplicates as for load ("error" makes a repeat an error). db, or nil and why.
function tacdb.build(records, opts)
  if type(records) ~= "table" then error("bad argument #1 to 'build' (table expected)", 2) end
  opts = check_opts("build", opts)
  local builder <close> = core.tacdb_builder(opts.duplicates == "first" and "first" or "last")
  for i, rec in ipairs(records) do
    if type(rec) ~= "table" then return nil, ("record %d: not a table"):format(i) end
    if type(rec.tac) ~= "string" then return nil, ("record %d: tac must be a string of digits"):format(i) end
    if rec.rat ~= nil and math.type(rec.rat) ~= "integer" then
      return nil, ("record %d: rat must be an integer bitmask"):format(i)
    end
    local fields = { rat = rec.rat }
    for _, name in ipairs(STRING_FIELDS) do
      if rec[name] ~= nil and type(rec[name]) ~= "string" then
        return nil, ("record %d: %s must be a string"):format(i, name)
      end
      fields[name] = rec[name]
    end
    local date = rec.allocation_date
    if type(date) == "string" then
      local y, m, d = date:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
      if not y then return nil, ("record %d: allocation_date '%s' is not YYYY-MM-DD"):format(i, date) end
      fields.allocation_date = tonumber(y) * 10000 + tonumber(m) * 100 + tonumber(d)
    elseif date ~= nil then
      return nil, ("record %d: allocation_date must be a string YYYY-MM-DD"):format(i)
    end
    if rec.extra ~= nil then
      if type(rec.extra) ~= "table" then return nil, ("record %d: extra must be a table"):format(i) end
      local names = {}
      for k, v in pairs(rec.extra) do
        if type(k) ~= "string" or type(v) ~= "string" then
          return nil, ("record %d: extra must map names to strings"):format(i)
        end
        names[#names + 1] = k
      end
      table.sort(names)
      local ex = {}
      for _, k in ipairs(names) do ex[#ex + 1] = k; ex[#ex + 1] = rec.extra[k] end
      fields.extra = ex
    end
    local ok, prev = builder:add(rec.tac, i, fields)
    if ok == nil then return nil, ("record %d: %s"):format(i, prev) end
    if ok == false and opts.duplicates == "error" then
      return nil, ("record %d: key %s is already record %d"):format(i, rec.tac, prev)
    end
  end
  return builder:freeze()
end

return tacdb
