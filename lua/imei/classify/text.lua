--- imei.classify.text — the small text formats of batch replay: CSV cells and lines as
-- the lists are written (RFC 4180: a cell with a comma, a quote or a line end is quoted;
-- they are read back with imei.tacdb.dsv), and JSON with sorted keys
-- (so that two reports of the same run are the same bytes).
local text = {}

-- The CSV lines (RFC 4180 quoting: a cell with a comma, a quote or a line end is quoted)
-- are built in C, host/lua_csv_lines.c, where the quoting rule lives.
local csv_lines = require("imei.host").csv_lines

--- A CSV line (without its line end) from cells 1..n (default #cells).
function text.line(cells, n)
  return (csv_lines({ cells }, 1, 1, n or #cells):sub(1, -2))
end

-- errno values that mean the disk (or the user's share of it) is full: said as such, not
-- as an opaque "Input/output error" (Linux numbers, as io and core report them)
local FULL = { [28] = "disk full (ENOSPC: no space left on device)", [122] = "disk quota exceeded (EDQUOT)",
               [27] = "file too large for the file system (EFBIG)" }

--- A write error as a message that names the file and the cause.
function text.io_error(path, msg, code)
  if FULL[code] then return ("%s: %s"):format(path, FULL[code]) end
  msg = tostring(msg or "write failed")
  if msg:find(path, 1, true) then return msg end
  return path .. ": " .. msg
end

--- Write s to path (created or truncated): true, or nil and text.io_error's message.
function text.write_file(path, s)
  local f, err, code = io.open(path, "wb")
  if not f then return nil, text.io_error(path, err, code) end
  local ok, werr, wcode = f:write(s)
  local closed, cerr, ccode = f:close()
  if not ok then return nil, text.io_error(path, werr, wcode) end
  if not closed then return nil, text.io_error(path, cerr, ccode) end
  return true
end

--- The bytes of a file, or nil and why (the path in the message).
function text.read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local body, rerr = f:read("a")
  f:close()
  if not body then return nil, path .. ": " .. tostring(rerr) end
  return body
end

--- Write a CSV file, streaming (lists and notices of millions of rows): the header, then
-- the lines of each row. opts: expand(row) -> a list of rows to write for it (default:
-- the row itself), refuse(line, i) -> nil or why a line may not be written, controls(line,
-- i) -> why a line that holds a control character (a line end, ...) may not be written
-- (the file is then abandoned: nil and the message), check() called every 65,536 rows
-- (may raise). Returns true, or nil and text.io_error's message (a full disk said as such).
local CHUNK = 4096 -- rows made into text at a time (a divisor of 65,536)

function text.write_csv(path, header, rows, opts)
  opts = opts or {}
  local f, err, code = io.open(path, "wb")
  if not f then return nil, text.io_error(path, err, code) end
  f:setvbuf("full", 1 << 16)
  local ok, werr, wcode = f:write(text.line(header), "\n")
  local n, expand, refuse, check, controls = #header, opts.expand, opts.refuse, opts.check, opts.controls
  local function checked()
    local cok, stop = pcall(check)
    if not cok then
      f:close()
      error(stop, 0)
    end
  end
  if not expand and not refuse then -- a chunk of rows at a time, made into text in C
    local total = #rows
    for i = 1, total, CHUNK do
      if not ok then break end
      local j = math.min(i + CHUNK - 1, total)
      local chunk, bad = csv_lines(rows, i, j, n, controls ~= nil)
      if not chunk then
        f:close()
        return nil, controls(text.line(rows[bad], n), bad)
      end
      ok, werr, wcode = f:write(chunk)
      if check and j % 65536 == 0 then checked() end
    end
  else
    for i, row in ipairs(rows) do
      if not ok then break end
      local many = expand and expand(row)
      for k = 1, many and #many or 1 do
        local line = text.line(many and many[k] or row, n)
        local why = refuse and refuse(line, i) or (controls and line:find("%c") and controls(line, i))
        if why then
          f:close()
          return nil, why
        end
        ok, werr, wcode = f:write(line, "\n")
        if not ok then break end
      end
      if check and i % 65536 == 0 then checked() end
    end
  end
  local closed, cerr, ccode = f:close()
  if not ok then return nil, text.io_error(path, werr, wcode) end
  if not closed then return nil, text.io_error(path, cerr, ccode) end
  return true
end

--- Thousands separators for people: 1234567 -> "1,234,567".
function text.count(n)
  if math.type(n) ~= "integer" then n = math.floor((n or 0) + 0.5) end
  local s = tostring(n)
  local sign, digits = s:match("^(%-?)(%d+)$")
  if not digits then return s end
  digits = digits:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "")
  return sign .. digits
end

--- A share as a percentage: 0.01234 -> "1.23%".
function text.percent(x)
  return ("%.2f%%"):format((x or 0) * 100)
end

--- "20260131" -> "2026-01-31"
function text.iso_date(d)
  if type(d) ~= "string" or #d ~= 8 then return d end
  return d:sub(1, 4) .. "-" .. d:sub(5, 6) .. "-" .. d:sub(7, 8)
end

-- JSON ------------------------------------------------------------------------------

--- A marker for an array that may be empty (JSON [] rather than {}).
text.ARRAY = setmetatable({}, { __name = "json array" })

function text.array(t)
  return setmetatable(t or {}, text.ARRAY)
end

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n",
                  ["\r"] = "\\r", ["\t"] = "\\t" }

local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or ("\\u%04x"):format(c:byte())
  end) .. '"'
end

local function is_array(t)
  if getmetatable(t) == text.ARRAY then return true end
  local n = #t
  if n == 0 then return false end
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
  end
  return true
end

--- A JSON null that a table can hold (a nil field would leave the key out).
text.NULL = setmetatable({}, { __name = "null", __tostring = function() return "null" end })

local function encode(v, indent, depth, out)
  local t = type(v)
  if t == "nil" or v == text.NULL then
    out[#out + 1] = "null"
  elseif t == "boolean" then
    out[#out + 1] = tostring(v)
  elseif t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then
      out[#out + 1] = "null"
    elseif math.type(v) == "integer" then
      out[#out + 1] = tostring(v)
    else
      out[#out + 1] = ("%.10g"):format(v)
    end
  elseif t == "string" then
    out[#out + 1] = quote(v)
  elseif t == "table" then
    local pad = indent and ("\n" .. indent:rep(depth + 1)) or ""
    local close = indent and ("\n" .. indent:rep(depth)) or ""
    if is_array(v) then
      if #v == 0 then
        out[#out + 1] = "[]"
        return
      end
      out[#out + 1] = "["
      for i = 1, #v do
        out[#out + 1] = (i > 1 and "," or "") .. pad
        encode(v[i], indent, depth + 1, out)
      end
      out[#out + 1] = close .. "]"
    else
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      table.sort(keys)
      if #keys == 0 then
        out[#out + 1] = "{}"
        return
      end
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        local value = v[k]
        if value == nil then value = v[tonumber(k)] end
        out[#out + 1] = (i > 1 and "," or "") .. pad .. quote(k) .. (indent and ": " or ":")
        encode(value, indent, depth + 1, out)
      end
      out[#out + 1] = close .. "}"
    end
  else
    error("cannot encode a " .. t .. " as JSON")
  end
end

--- JSON text of a value; indent (e.g. "  ") pretty-prints.
function text.json(v, indent)
  local out = {}
  encode(v, indent, 0, out)
  return table.concat(out)
end

return text
