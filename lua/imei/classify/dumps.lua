--- imei.classify.dumps — which operator a dump comes from, and the period it covers.
--
-- DIRBS names operator data files `Operator_Region_Start_End.csv` (dates YYYYMMDD),
-- e.g. `Jazz_Punjab_20260101_20260131.csv.gz`. The operator name then comes from the file
-- name and rows dated outside Start..End are refused; `--operator NAME` names the
-- operator of files named otherwise (and overrides the name's).
local dumps = {}

local function valid_date(d)
  local y, m, day = tonumber(d:sub(1, 4)), tonumber(d:sub(5, 6)), tonumber(d:sub(7, 8))
  if not (y and m and day) or m < 1 or m > 12 or day < 1 then return false end
  local mdays = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }
  local leap = (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0
  return day <= mdays[m] + ((m == 2 and leap) and 1 or 0)
end
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

local OPERATOR_NAME = "^[%w._%-]+$"

--- The operator and period of a dump: { operator, first?, last? } or nil and why.
function dumps.describe(path, operator)
  local named = dumps.parse_name(path)
  if operator then
    if not operator:match(OPERATOR_NAME) or #operator > 64 then
      return nil, ("--operator '%s': use letters, digits, '.', '_' or '-'"):format(operator)
    end
    return { operator = operator, first = named and named.first, last = named and named.last,
             region = named and named.region }
  end
  if not named then
    return nil, ("%s: cannot tell the operator: name the file Operator_Region_YYYYMMDD_YYYYMMDD.csv[.gz] " ..
                 "or give --operator NAME"):format(path)
  end
  if not named.operator:match(OPERATOR_NAME) then
    return nil, ("%s: operator '%s' from the file name: use letters, digits, '.', '_' or '-'")
      :format(path, named.operator)
  end
  return named
end

return dumps
