--- imei.tacdb.report — the load report of a TAC database file, and the row fixes shared
-- by the loaders.
--
-- A report is a plain table (it encodes as JSON as it is):
--   source, format          the file and the format it was read as
--   lines                   lines in the file;  rows: data rows (not blank, not header)
--   records                 distinct keys loaded (#db)
--   rejected, errors        rows not loaded, and { line =, reason = } for the first max_errors
--   duplicates, duplicate_rows  rows whose TAC came earlier, and { line =, tac =, first_line =,
--                           kept = line } for the first max_errors
--   warnings, warning_rows  rows loaded with something left out, and { line =, reason = }
--   conflicts, conflict_rows  rows whose TAC, repaired from 7 digits, an exact 8-digit row
--                           also has: the exact row was kept; { line =, tac =, kept = line }
--                           for the first max_errors
--   fixes                   repairs made: { [kind] = { count =, lines = { first few }, what = } }
--   notes                   other things done, as sentences (a skipped banner line, a BOM, …)
local report = {}

local EXAMPLES = 5 -- line numbers kept per kind of fix

function report.new(source, format, max_errors)
  return {
    source = source, format = format, lines = 0, rows = 0, records = 0,
    rejected = 0, errors = {}, duplicates = 0, duplicate_rows = {}, conflicts = 0, conflict_rows = {},
    warnings = 0, warning_rows = {},
    fixes = {}, notes = {}, max_errors = max_errors or 100,
  }
end

function report.reject(r, line, reason)
  r.rejected = r.rejected + 1
  if #r.errors < r.max_errors then r.errors[#r.errors + 1] = { line = line, reason = reason } end
end

function report.warn(r, line, reason)
  r.warnings = r.warnings + 1
  if #r.warning_rows < r.max_errors then r.warning_rows[#r.warning_rows + 1] = { line = line, reason = reason } end
end

function report.duplicate(r, line, tac, first_line, kept)
  r.duplicates = r.duplicates + 1
  if #r.duplicate_rows < r.max_errors then
    r.duplicate_rows[#r.duplicate_rows + 1] = { line = line, tac = tac, first_line = first_line, kept = kept }
  end
end

--- A repaired TAC (line) that an exact row (kept) also has: the exact row wins.
function report.conflict(r, line, tac, kept)
  r.conflicts = r.conflicts + 1
  if #r.conflict_rows < r.max_errors then
    r.conflict_rows[#r.conflict_rows + 1] = { line = line, tac = tac, kept = kept }
  end
end

function report.fix(r, kind, line, what)
  local f = r.fixes[kind]
  if not f then
    f = { count = 0, lines = {}, what = what }
    r.fixes[kind] = f
  end
  f.count = f.count + 1
  if #f.lines < EXAMPLES then f.lines[#f.lines + 1] = line end
end

function report.note(r, text)
  r.notes[#r.notes + 1] = text
end

--- A line shown in a message: cut at 100 characters, without its line end.
function report.excerpt(line)
  line = line:gsub("\r$", "")
  if #line <= 100 then return line end
  local cut = utf8.len(line) and utf8.offset(line, 101) or 101 -- not inside a UTF-8 sequence
  return line:sub(1, cut - 1) .. "…"
end

--- Trim spaces and tabs around a field; the second result says whether anything went.
local byte, match = string.byte, string.match
function report.trim(s)
  local a, z = byte(s, 1), byte(s, -1)
  if a ~= 32 and a ~= 9 and z ~= 32 and z ~= 9 then return s, false end
  return match(s, "^[ \t]*(.-)[ \t]*$"), true
end

--- A TAC as found in a file -> the 8-digit key, or nil and why. A 7-digit TAC is one whose
-- leading 0 a spreadsheet dropped (TACs of reporting bodies 01-09, TS 23.003 §6.2.1): the
-- 0 is put back, the fix counted, and a third result true says the key was repaired.
function report.tac(r, line, tac)
  if #tac == 8 and match(tac, "^%d+$") then return tac end
  if tac == "" then return nil, "no TAC" end
  if not match(tac, "^%d+$") then
    return nil, ("TAC '%s' is not made of digits"):format(#tac > 20 and tac:sub(1, 20) .. "…" or tac)
  end
  if #tac == 7 then
    report.fix(r, "tac_leading_zero", line, "TACs of 7 digits: the leading 0 a spreadsheet dropped was put back")
    return "0" .. tac, nil, true
  end
  return nil, ("TAC '%s' has %d digits; a TAC has 8"):format(#tac > 20 and tac:sub(1, 20) .. "…" or tac, #tac)
end

--- Add one row to the builder and account for it. Returns true, or nil and an error when
-- duplicates are an error.
function report.add(r, builder, line, tac, fields, duplicates)
  local added, prev = builder:add(tac, line, fields)
  if added == nil then
    report.reject(r, line, prev)
  elseif added == false then
    if duplicates == "error" then
      return nil, ("line %d: TAC %s is already on line %d"):format(line, tac, prev)
    end
    report.duplicate(r, line, tac, prev, duplicates == "first" and prev or line)
  end
  return true
end

local function lines_of(f)
  local t = {}
  for i, l in ipairs(f.lines) do t[i] = tostring(l) end
  return table.concat(t, ", ") .. (f.count > #f.lines and ", …" or "")
end

local function plural(n, word)
  return ("%d %s%s"):format(n, word, n == 1 and "" or "s")
end

--- The report as text for people, one item per line: the rows first, the summary last
-- (so that the end of the output says what was loaded).
function report.format(r)
  local out = {}
  local function add(fmt, ...) out[#out + 1] = fmt:format(...) end
  add("%s: %s, %s, %s", r.source or "(text)", r.format, plural(r.lines, "line"), plural(r.rows, "data row"))
  for _, e in ipairs(r.errors) do add("  line %d: rejected: %s", e.line, e.reason) end
  if r.rejected > #r.errors then add("  … %d more rejected rows", r.rejected - #r.errors) end
  for _, w in ipairs(r.warning_rows) do add("  line %d: warning: %s", w.line, w.reason) end
  if r.warnings > #r.warning_rows then add("  … %d more warnings", r.warnings - #r.warning_rows) end
  for _, d in ipairs(r.duplicate_rows) do
    add("  line %d: TAC %s already on line %d; kept line %d", d.line, d.tac, d.first_line, d.kept)
  end
  if r.duplicates > #r.duplicate_rows then add("  … %d more duplicates", r.duplicates - #r.duplicate_rows) end
  for _, c in ipairs(r.conflict_rows or {}) do
    add("  line %d: TAC %s (7 digits, leading 0 put back) is also on line %d written in full; kept line %d",
      c.line, c.tac, c.kept, c.kept)
  end
  if (r.conflicts or 0) > #(r.conflict_rows or {}) then
    add("  … %d more conflicts", r.conflicts - #r.conflict_rows)
  end
  for _, note in ipairs(r.notes) do add("  note       %s", note) end
  local kinds = {}
  for kind in pairs(r.fixes) do kinds[#kinds + 1] = kind end
  table.sort(kinds)
  for _, kind in ipairs(kinds) do
    local f = r.fixes[kind]
    add("  fixed      %d: %s (line%s %s)", f.count, f.what, f.count == 1 and "" or "s", lines_of(f))
  end
  if r.warnings > 0 then add("  warnings   %s loaded with a value left out", plural(r.warnings, "row")) end
  add("  rejected   %s", plural(r.rejected, "row"))
  if r.duplicates > 0 then
    add("  duplicates %s repeated an earlier TAC; the %s one was kept", plural(r.duplicates, "row"),
      (r.duplicate_rows[1] and r.duplicate_rows[1].kept == r.duplicate_rows[1].first_line) and "first" or "last")
  end
  if (r.conflicts or 0) > 0 then
    add("  conflicts  %s with a repaired 7-digit TAC that an exact 8-digit row also has: the exact row was kept",
      plural(r.conflicts, "row"))
  end
  add("  loaded     %s", plural(r.records, "record"))
  return table.concat(out, "\n")
end

return report
