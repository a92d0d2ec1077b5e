--- imei.tacdb.rows — from parsed rows to builder records, the part both text loaders share:
-- find the header (skipping a few lines before it, such as a licence banner), then for
-- every data row check the field count, trim blanks, repair or reject the TAC, map the
-- columns to record fields and extras, and hand the row to the builder, accounting for
-- everything in the report.
--
-- A TAC repaired from 7 digits (a spreadsheet's dropped leading 0) is a guess; a row
-- with the same 8 digits written in full is not. When both name one TAC, the exact row
-- wins wherever the two stand in the file, and the conflict is reported (report.conflict):
-- repaired rows are held back and added at the end, only for TACs no exact row named.
--
-- A format is { name =, sep =, header = function(fields) -> plan | nil, err | false,
--               check = function(report, line, fields) (optional, may change fields) }.
-- A plan is { ncols =, tac = column, fields = { [column] = field name },
--             extras = { [column] = extra name } } (see rows.plan).
local dsv = require "imei.tacdb.dsv"
local rep = require "imei.tacdb.report"

local rows = {}

local MAX_PREAMBLE = 5 -- lines before the header that may be skipped

--- Complete a plan: the reusable tables of one load.
function rows.plan(ncols, tac, fields, extras)
  local plan = { ncols = ncols, tac = tac, field_cols = {}, extra_cols = {}, record = {}, extra = {} }
  for col = 1, ncols do
    if fields[col] then
      plan.field_cols[#plan.field_cols + 1] = { col, fields[col] }
    elseif extras[col] then
      plan.extra_cols[#plan.extra_cols + 1] = col
      plan.extra[#plan.extra + 1] = extras[col]
      plan.extra[#plan.extra + 1] = ""
    end
  end
  plan.record.extra = #plan.extra > 0 and plan.extra or nil
  return plan
end

local trim = rep.trim

local function add_row(r, builder, line, row, plan, format, opts, held)
  if #row ~= plan.ncols then
    rep.reject(r, line, ("%d fields, the header has %d"):format(#row, plan.ncols))
    return true
  end
  local trimmed = row.padded
  if row.quoted then -- blanks inside quotes are no more wanted than outside
    for i = 1, #row do
      local v, t = trim(row[i])
      if t then row[i], trimmed = v, true end
    end
  end
  if trimmed then rep.fix(r, "trimmed", line, "rows with blanks around fields: trimmed") end
  local tac, why, repaired = rep.tac(r, line, row[plan.tac])
  if not tac then
    rep.reject(r, line, why)
    return true
  end
  local rec = plan.record
  for _, fc in ipairs(plan.field_cols) do
    local v = row[fc[1]]
    rec[fc[2]] = v ~= "" and v or nil
  end
  local extra = plan.extra
  for k, col in ipairs(plan.extra_cols) do extra[2 * k] = row[col] end
  if format.check then format.check(r, line, rec) end
  if repaired then -- held back: an exact row further down may name the same TAC
    local copy = {}
    for k, v in pairs(rec) do copy[k] = v end
    if rec.extra then copy.extra = table.move(rec.extra, 1, #rec.extra, 1, {}) end
    held.rows[#held.rows + 1] = { line = line, tac = tac, rec = copy }
    return true
  end
  if tac:byte(1) == 48 and not held.exact[tac] then held.exact[tac] = line end -- "0": a repair could name it
  return rep.add(r, builder, line, tac, rec, opts.duplicates)
end

-- The held repaired rows, in file order: each one whose TAC an exact row named is a
-- conflict (the exact row stays); the others are added as any row.
local function add_held(r, builder, opts, held)
  for _, h in ipairs(held.rows) do
    local exact = held.exact[h.tac]
    if exact then
      rep.conflict(r, h.line, h.tac, exact)
    else
      local ok, err = rep.add(r, builder, h.line, h.tac, h.rec, opts.duplicates)
      if not ok then return nil, err end
    end
  end
  return true
end

--- Load text in the given format into builder. true, or nil and an error that stops the
-- load (no header, a bad header, a duplicate when duplicates = "error").
function rows.load(text, format, builder, r, opts)
  local plan
  local skipped = 0
  local held = { rows = {}, exact = {} } -- see add_held
  for line, row, why, start, stop in dsv.records(text, format.sep) do
    if plan then
      r.rows = r.rows + 1
      if row then
        local ok, err = add_row(r, builder, line, row, plan, format, opts, held)
        if not ok then return nil, err end
      else
        rep.reject(r, line, why)
      end
    else
      local p, err = false, nil
      if row then p, err = format.header(row) end
      if p then
        plan = p
      elseif p == nil then
        return nil, ("line %d: %s"):format(line, err)
      elseif skipped >= MAX_PREAMBLE then
        return nil, ("no %s header in the first %d lines"):format(format.name, MAX_PREAMBLE + 1)
      else
        skipped = skipped + 1
        rep.note(r, ('line %d: skipped a line before the header: "%s"'):format(line,
          rep.excerpt(text:sub(start, stop - 1))))
      end
    end
  end
  if not plan then return nil, ("no %s header"):format(format.name) end
  return add_held(r, builder, opts, held)
end

return rows
