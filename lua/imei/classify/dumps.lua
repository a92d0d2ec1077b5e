--- imei.classify.dumps — which operator a dump comes from, and the period it covers.
--
-- DIRBS names operator data files `Operator_Region_Start_End.csv` (dates YYYYMMDD),
-- e.g. `Jazz_Punjab_20260101_20260131.csv.gz`. The operator name then comes from the file
-- name and rows dated outside Start..End are refused; `--operator NAME` names the
-- operator of files named otherwise (and overrides the name's).
--
-- The rules themselves are C's, the ones the replay applies to every row and file
-- (imei_dump_date, imei_replay_operator_ok): checked here early, to name the file.
local host = require "imei.host"

local dumps = {}

--- A real calendar date, YYYYMMDD (or YYYY-MM-DD).
local valid_date = host.dump_date_ok
dumps.valid_date = valid_date

--- The parts of a DIRBS-style file name, or nil: { operator, region, first, last }.
function dumps.parse_name(path)
  local base = path:match("([^/]*)$")
  base = base:gsub("%.[gG][zZ]$", "")
  local op, region, first, last = base:match("^([^_]+)_(.+)_(%d%d%d%d%d%d%d%d)_(%d%d%d%d%d%d%d%d)%.[cC][sS][vV]$")
  if not op then return nil end
  if not valid_date(first) or not valid_date(last) or first > last then return nil end
  return { operator = op, region = region, first = first, last = last }
end

--- The operator and period of a dump: { operator, first?, last? } or nil and why.
function dumps.describe(path, operator)
  local named = dumps.parse_name(path)
  if operator then
    if not host.operator_ok(operator) then
      return nil, ("--operator '%s': use letters, digits, '.', '_' or '-'"):format(operator)
    end
    return { operator = operator, first = named and named.first, last = named and named.last,
             region = named and named.region }
  end
  if not named then
    return nil, ("%s: cannot tell the operator: name the file Operator_Region_YYYYMMDD_YYYYMMDD.csv[.gz] " ..
                 "or give --operator NAME"):format(path)
  end
  if not host.operator_ok(named.operator) then
    return nil, ("%s: operator '%s' from the file name: use letters, digits, '.', '_' or '-'")
      :format(path, named.operator)
  end
  return named
end

return dumps
