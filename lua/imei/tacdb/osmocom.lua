--- imei.tacdb.osmocom — loader for the Osmocom crowd-sourced TAC database (CSV).
--
-- As published: a licence banner line, then the header
--   tac,name,name,contributor,comment,gsmarena,gsmarena,aka
-- whose repeated names mean, in order: TAC, brand, model, contributor, comment, GSMArena
-- model page, GSMArena brand page, other names. CRLF line ends, UTF-8, RFC 4180 quoting.
-- Brand and model become record fields; the other columns are kept as extras, the two
-- "gsmarena" columns as gsmarena_model and gsmarena_brand, any other repeat as name_2, ….
-- A row with neither brand nor model is loaded, with a warning.
local rep = require "imei.tacdb.report"
local rows = require "imei.tacdb.rows"

local osmocom = {}

--- Is this line an Osmocom header? (for format detection)
function osmocom.is_header(line)
  return line:lower():match("^%s*\"?tac\"?%s*,") ~= nil
end

local REPEATS = { name = { "brand", "model" }, gsmarena = { "gsmarena_model", "gsmarena_brand" } }

local function header(row)
  if #row < 2 or rep.trim(row[1]):lower() ~= "tac" then return false end
  local fields, extras, count = {}, {}, {}
  for i, raw in ipairs(row) do
    local name = rep.trim(raw):lower()
    if name == "" then return nil, ("header column %d has no name"):format(i) end
    count[name] = (count[name] or 0) + 1
    local meaning = REPEATS[name] and REPEATS[name][count[name]]
    if name == "tac" then
      if count.tac > 1 then return nil, ("the header names column 'tac' twice (column %d)"):format(i) end
    elseif name == "name" and meaning then
      fields[i] = meaning
    else
      extras[i] = meaning or (count[name] > 1 and ("%s_%d"):format(name, count[name]) or name)
    end
  end
  if (count.name or 0) < 2 then
    return nil, "the header needs the columns tac, name (brand) and name (model)"
  end
  return rows.plan(#row, 1, fields, extras)
end

local function check(r, line, rec)
  if not rec.brand and not rec.model then rep.warn(r, line, "no brand and no model") end
end

--- Load Osmocom CSV text into builder (see imei.tacdb.rows). true, or nil and why.
function osmocom.load(text, builder, r, opts)
  return rows.load(text, { name = "Osmocom", sep = ",", header = header, check = check }, builder, r, opts)
end

return osmocom
