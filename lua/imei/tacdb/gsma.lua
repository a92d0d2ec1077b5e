--- imei.tacdb.gsma — loader for the GSMA TAC database export: pipe-separated text whose
-- first line names the columns, in any order, values possibly double-quoted.
--
-- Required columns: TAC, Manufacturer, Model Name, Bands, Allocation Date, Device Type.
-- Known ones go to record fields (Brand Name, Marketing Name, Operating System too);
-- every other column is kept with its header name as an extra of the record.
-- Column names are matched without regard to case, blanks or underscores.
-- Allocation dates are DD-Mon-YYYY (26-Apr-2013), English month abbreviations; a row with
-- a date that is not one is loaded without the date and a warning.
local lpeg = require "lpeg"
local rep = require "imei.tacdb.report"
local rows = require "imei.tacdb.rows"

local gsma = {}

local FIELDS = {
  ["tac"] = "tac",
  ["manufacturer"] = "manufacturer",
  ["model name"] = "model",
  ["brand name"] = "brand",
  ["marketing name"] = "marketing_name",
  ["operating system"] = "os",
  ["bands"] = "bands",
  ["allocation date"] = "allocation_date",
  ["device type"] = "device_type",
}
local REQUIRED = { "TAC", "Manufacturer", "Model Name", "Bands", "Allocation Date", "Device Type" }

local function norm(name)
  return (name:lower():gsub("[%s_]+", " "):gsub("^ ", ""):gsub(" $", ""))
end

--- Is this line a GSMA header? (for format detection): pipe-separated, a column TAC.
function gsma.is_header(line)
  if not line:find("|", 1, true) then return false end
  for name in (line .. "|"):gmatch("([^|]*)|") do
    if norm(name:gsub('"', "")) == "tac" then return true end
  end
  return false
end

local MONTHS = { jan = 1, feb = 2, mar = 3, apr = 4, may = 5, jun = 6, jul = 7, aug = 8, sep = 9, oct = 10,
  nov = 11, dec = 12 }
local MDAYS = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }
local digit, alpha = lpeg.R"09", lpeg.R("az", "AZ")
local date_pattern = lpeg.C(digit * digit ^ -1) * "-" * lpeg.C(alpha * alpha * alpha) * "-" *
  lpeg.C(digit * digit * digit * digit) * -1

--- DD-Mon-YYYY -> YYYYMMDD, or nil when it is not such a date.
function gsma.parse_date(s)
  local d, mon, y = date_pattern:match(s)
  if not d then return nil end
  local m = MONTHS[mon:lower()]
  d, y = tonumber(d), tonumber(y)
  if not m or d < 1 or d > MDAYS[m] or y < 1000 then return nil end
  if m == 2 and d == 29 and not ((y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0) then return nil end
  return y * 10000 + m * 100 + d
end

--- The plan of a header row, nil and why for a broken header, false for another line.
local function header(row)
  local is_header = false
  for _, name in ipairs(row) do is_header = is_header or norm(name) == "tac" end
  if #row < 2 or not is_header then return false end
  local fields, extras, seen = {}, {}, {}
  for i, raw in ipairs(row) do
    local name = rep.trim(raw)
    local key = norm(name)
    if key == "" then return nil, ("header column %d has no name"):format(i) end
    if seen[key] then
      return nil, ("the header names column '%s' twice (columns %d and %d)"):format(name, seen[key], i)
    end
    seen[key] = i
    if FIELDS[key] then fields[i] = FIELDS[key] else extras[i] = name end
  end
  local missing = {}
  for _, name in ipairs(REQUIRED) do
    if not seen[norm(name)] then missing[#missing + 1] = name end
  end
  if #missing > 0 then
    return nil, "the header lacks the required column" .. (#missing > 1 and "s " or " ") .. table.concat(missing, ", ")
  end
  local tac = seen.tac
  fields[tac] = nil
  return rows.plan(#row, tac, fields, extras)
end

local function check(r, line, rec, dates)
  local date = rec.allocation_date
  if date == nil then return end
  local v = dates[date]
  if v == nil then
    v = gsma.parse_date(date) or false
    dates[date] = v
  end
  rec.allocation_date = v or nil
  if not v then
    rep.warn(r, line, ("allocation date '%s' is not a date DD-Mon-YYYY; loaded without a date"):format(date))
  end
end

--- Load GSMA text into builder (see imei.tacdb.rows). true, or nil and why.
function gsma.load(text, builder, r, opts)
  local dates = {} -- the same few thousand dates repeat: parse each once
  local format = {
    name = "GSMA", sep = "|", header = header,
    check = function(rr, line, rec) check(rr, line, rec, dates) end,
  }
  return rows.load(text, format, builder, r, opts)
end

return gsma
