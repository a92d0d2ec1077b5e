--- imei.tacdb.dsv — delimiter-separated records (CSV, pipe-separated) for the TAC loaders.
--
-- An LPeg grammar in the spirit of RFC 4180: fields split by one separator byte, a field
-- may be double-quoted (the separator and "" inside it stand for themselves), records end
-- with LF or CRLF. Two deliberate departures, because TAC exports are hand-edited:
--   * a quoted field must close on its own line: one stray quote costs one row, not the
--     rest of the file (a quote inside an unquoted field is kept as text);
--   * every record is checked for NUL bytes and invalid UTF-8, and reported, not loaded.
--
--   for line, fields, err in dsv.records(text, "|") do … end
-- yields the line number and the list of fields, or the line number, nil and why the
-- line cannot be read. Blank lines are skipped, and so is a UTF-8 byte-order mark.
-- Blanks around unquoted fields are dropped, and fields.padded says so; fields.quoted
-- says that some field was quoted.
local lpeg = require "lpeg"

local P, S, C, Cc, Cg, Cs, Ct, Cp = lpeg.P, lpeg.S, lpeg.C, lpeg.Cc, lpeg.Cg, lpeg.Cs, lpeg.Ct, lpeg.Cp
local find, byte, sub = string.find, string.byte, string.sub
local utf8_len = utf8.len

local dsv = {}

local grammars = {}

--- The record grammar for a separator: matches one line, captures the fields and the
-- position after the line end. Blanks around an unquoted field are left out of it, and the
-- fields table gets padded = true; a line with a quoted field gets quoted = true (blanks
-- inside quotes are kept: the caller may trim them).
local function grammar(sep)
  local g = grammars[sep]
  if g then return g end
  local blank = S" \t"
  local padded = Cg(Cc(true), "padded")
  local pad = (blank ^ 1 * padded) ^ -1
  local word = (1 - S(sep .. " \t\r\n")) ^ 1
  local plain = pad * C((word * (blank ^ 1 * word) ^ 0) ^ -1) * pad
  local quoted = blank ^ 0 * P'"' * Cg(Cc(true), "quoted") * Cs((P'""' / '"' + (1 - S'"\n')) ^ 0) * P'"' * blank ^ 0
  local field = #(blank ^ 0 * P'"') * quoted + -(blank ^ 0 * P'"') * plain -- an open quote must close
  local eol = P"\r" ^ -1 * P"\n" + P"\r" ^ -1 * -P(1)
  g = Ct(field * (P(sep) * field) ^ 0) * eol * Cp()
  grammars[sep] = g
  return g
end

--- Why a line the grammar refused cannot be read: the first field whose quoting is broken.
local function diagnose(line, sep)
  local i, n, field = 1, #line, 1
  while i <= n + 1 do
    local s = find(line, "[^ \t]", i) or n + 1
    if byte(line, s) == 34 then -- '"'
      local j = s + 1
      while true do
        local q = find(line, '"', j, true)
        if not q then
          return ("field %d: a quoted field is not closed on its line"):format(field)
        end
        if byte(line, q + 1) == 34 then
          j = q + 2
        else
          local after = find(line, "[^ \t\r]", q + 1)
          if after and sub(line, after, after) ~= sep then
            return ("field %d: text after the closing quote"):format(field)
          end
          i = (after or n) + 1
          break
        end
      end
    else
      local e = find(line, sep, s, true)
      if not e then break end
      i = e + 1
    end
    field = field + 1
  end
  local cr = find(line, "\r", 1, true)
  if cr then return ("stray carriage return at column %d"):format(cr) end
  return "unreadable line"
end

--- Iterate over the records of text with separator sep (one byte): yields the line
-- number and the fields, or the line number, nil and why the line cannot be read; then
-- where the line starts and ends in text (text:sub(start, stop - 1) is the line).
function dsv.records(text, sep)
  local g = grammar(sep)
  local pos, line = 1, 0
  local n = #text
  if sub(text, 1, 3) == "\239\187\191" then pos = 4 end
  -- whole-text checks once; per-line checks only when they fail somewhere
  local check_utf8 = utf8_len(text, pos) == nil
  local check_nul = find(text, "\0", pos, true) ~= nil
  return function()
    while pos <= n do
      line = line + 1
      local start = pos
      local nl = find(text, "\n", pos, true)
      local stop = nl or n + 1 -- the line is text[start, stop)
      local first = find(text, "[^ \t\r]", start)
      pos = stop + 1
      if first and first < stop then -- not a blank line
        if check_nul then
          local z = find(text, "\0", start, true)
          if z and z < stop then return line, nil, ("NUL byte at column %d"):format(z - start + 1), start, stop end
        end
        if check_utf8 then
          local ok, bad = utf8_len(text, start, stop - 1)
          if not ok then
            return line, nil, ("invalid UTF-8 at column %d"):format(bad - start + 1), start, stop
          end
        end
        local fields, next_pos = lpeg.match(g, text, start)
        if not fields then return line, nil, diagnose(sub(text, start, stop - 1), sep), start, stop end
        pos = next_pos
        return line, fields, nil, start, stop
      end
    end
    return nil
  end
end

--- The first lines of text (at most max), without line ends: for format detection.
function dsv.head(text, max)
  local out, pos = {}, 1
  if sub(text, 1, 3) == "\239\187\191" then pos = 4 end
  while #out < max and pos <= #text do
    local nl = find(text, "\n", pos, true)
    local line = sub(text, pos, (nl or #text + 1) - 1):gsub("\r$", "")
    out[#out + 1] = line
    if not nl then break end
    pos = nl + 1
  end
  return out
end

return dsv
