--- imei.classify.notices — the text of the SMS or letter each notified subscriber gets,
-- filled from templates a regulator writes, one file per condition and language:
--
--   notices/unregistered.en.txt   Your phone {imei} is not registered. It will be blocked
--                                 on {block_date}. Register it at https://… .
--   notices/unregistered.ur.txt   (the same in Urdu, UTF-8)
--   notices/default.en.txt        for the conditions that have no template of their own
--
-- A file is UTF-8 text (a byte order mark is skipped; one final line end is dropped, so
-- an editor's last newline does not end every SMS). `{name}` is replaced per subscriber
-- (notices.PLACEHOLDERS below); `{{` and `}}` write a brace. An unknown placeholder, a brace
-- left open, a file that is not UTF-8, a template for a condition the policy does not
-- have, or a condition that can notify with no template in some language (and no
-- default.<lang>.txt) stops the run before anything is read, naming the file and line.
--
-- With --notices DIR, classify writes notices_<OP>.csv beside notifications_<OP>.csv:
--   imei,imsi,msisdn,block_date,reasons,lang,text
-- one row per notification and language, the same rows in the same order as the
-- notification list; `text` is quoted as RFC 4180 says (commas, quotes, line ends).
local text = require "imei.classify.text"

local notices = {}

--- What a template can say, and how it is filled from a notification row and its context.
notices.PLACEHOLDERS = {
  imei = "the device (the 14-digit key of the lists, or the identity as written)",
  imsi = "the subscriber's IMSI",
  msisdn = "the subscriber's number (MSISDN; empty when the dump had none)",
  block_date = "the date the device is blocked from, YYYY-MM-DD",
  block_date_dmy = "the same date as DD/MM/YYYY",
  reasons = "the conditions in their grace period, comma-separated",
  condition = "the condition whose template this is (with default.LANG.txt: the first of the reasons)",
  operator = "the operator of the notification list",
  brand = "the device's brand from the TAC database (--tacdb; empty when its TAC is not there)",
  model = "the device's model from the TAC database (--tacdb; empty when its TAC is not there)",
  lang = "the template's language",
}

local function names_list()
  local names = {}
  for k in pairs(notices.PLACEHOLDERS) do names[#names + 1] = k end
  table.sort(names)
  return "{" .. table.concat(names, "}, {") .. "}"
end

-- Parse a template: a list of parts, each a literal string or { name }. Errors name
-- the file and line.
local function parse(path, body, has_tacdb)
  local parts, lit = {}, {}
  local i, line = 1, 1
  local n = #body
  while i <= n do
    local c = body:sub(i, i)
    if c == "{" then
      if body:sub(i + 1, i + 1) == "{" then
        lit[#lit + 1] = "{"
        i = i + 2
      else
        local close = body:find("}", i + 1, true)
        local nl = body:find("\n", i + 1, true)
        if not close or (nl and nl < close) then
          return nil, ("%s:%d: '{' is not closed on its line (write {{ for a brace)"):format(path, line)
        end
        local name = body:sub(i + 1, close - 1)
        if not notices.PLACEHOLDERS[name] then
          return nil, ("%s:%d: unknown placeholder {%s}; the placeholders are %s (write {{ for a brace)")
            :format(path, line, name, names_list())
        end
        if (name == "brand" or name == "model") and not has_tacdb then
          return nil, ("%s:%d: {%s} comes from the TAC database: give --tacdb"):format(path, line, name)
        end
        if #lit > 0 then parts[#parts + 1] = table.concat(lit) end
        lit = {}
        parts[#parts + 1] = { name }
        i = close + 1
      end
    elseif c == "}" then
      if body:sub(i + 1, i + 1) ~= "}" then
        return nil, ("%s:%d: a '}' that closes nothing (write }} for a brace)"):format(path, line)
      end
      lit[#lit + 1] = "}"
      i = i + 2
    else
      local j = body:find("[{}\n]", i) or (n + 1)
      if body:sub(j, j) == "\n" then
        lit[#lit + 1] = body:sub(i, j)
        line = line + 1
        i = j + 1
      else
        lit[#lit + 1] = body:sub(i, j - 1)
        i = j
      end
    end
  end
  if #lit > 0 then parts[#parts + 1] = table.concat(lit) end
  return parts
end

-- The line of the first byte that is not UTF-8, or nil.
local function bad_utf8_line(body)
  local ok, pos = utf8.len(body)
  if ok then return nil end
  local _, lines = body:sub(1, pos - 1):gsub("\n", "")
  return lines + 1, pos
end

--- Read the templates of dir. conditions: engine:info().conditions (name, grace_days,
-- disabled); listdir and read: the folder's names and a file's bytes (host.listdir,
-- text.read_file); tacdb: the TAC database ({brand} and {model}) or nil.
-- Returns { langs = { "ar", "en", … }, by = { [lang] = { [condition] = parts } }, tacdb }
-- or nil and a message naming the file (and line).
function notices.load(dir, conditions, listdir, read, tacdb)
  local names, err = listdir(dir)
  if not names then return nil, ("--notices %s: %s"):format(dir, tostring(err or "not a readable folder")) end
  table.sort(names)
  local known = {}
  for _, c in ipairs(conditions or {}) do known[c.name] = c end
  local set = { langs = {}, by = {}, dir = dir, tacdb = tacdb }
  for _, name in ipairs(names) do
    if name:match("%.txt$") then
      local path = dir .. "/" .. name
      local cond, lang = name:match("^(.+)%.([A-Za-z][A-Za-z0-9_-]*)%.txt$")
      if not cond then
        return nil, ("%s: a template is named CONDITION.LANG.txt (unregistered.en.txt, default.ur.txt)"):format(path)
      end
      if cond ~= "default" and not known[cond] then
        local have = {}
        for _, c in ipairs(conditions or {}) do have[#have + 1] = c.name end
        return nil, ("%s: the policy has no condition '%s' (its conditions: %s; default.%s.txt serves them all)")
          :format(path, cond, table.concat(have, ", "), lang)
      end
      local body, rerr = read(path)
      if not body then return nil, ("%s: %s"):format(path, tostring(rerr)) end
      body = body:gsub("^\xEF\xBB\xBF", "")
      local line, pos = bad_utf8_line(body)
      if line then return nil, ("%s:%d: not UTF-8 (byte %d); save the template as UTF-8"):format(path, line, pos) end
      body = body:gsub("\r\n", "\n"):gsub("\n$", "")
      local parts, perr = parse(path, body, tacdb ~= nil)
      if not parts then return nil, perr end
      if not set.by[lang] then
        set.by[lang] = {}
        set.langs[#set.langs + 1] = lang
      end
      set.by[lang][cond] = parts
    end
  end
  if #set.langs == 0 then
    return nil, ("--notices %s: no template (CONDITION.LANG.txt) in the folder"):format(dir)
  end
  table.sort(set.langs)
  -- every condition that can notify (a grace period) has a text in every language
  for _, c in ipairs(conditions or {}) do
    if c.grace_days ~= nil and not c.disabled then
      for _, lang in ipairs(set.langs) do
        if not set.by[lang][c.name] and not set.by[lang].default then
          return nil, ("--notices %s: condition '%s' notifies (grace_days) but has no template in language " ..
            "'%s': write %s.%s.txt or default.%s.txt"):format(dir, c.name, lang, c.name, lang, lang)
        end
      end
    end
  end
  return set
end

--- A template filled with values (a table of strings by placeholder name).
function notices.fill(parts, values)
  local out = {}
  for i, p in ipairs(parts) do
    if type(p) == "table" then out[i] = values[p[1]] or "" else out[i] = p end
  end
  return table.concat(out)
end

--- The notice rows of one operator's notification rows (imei,imsi,msisdn,block_date,
-- reasons): imei,imsi,msisdn,block_date,reasons,lang,text, one per language.
function notices.rows(set, operator, rows)
  local out = {}
  for _, row in ipairs(rows) do
    local reasons = {}
    for name in (row[5] or ""):gmatch("[^|]+") do reasons[#reasons + 1] = name end
    local d = row[4] or ""
    local y, m, day = d:match("^(%d%d%d%d)(%d%d)(%d%d)$")
    local values = {
      imei = row[1], imsi = row[2], msisdn = row[3], block_date = text.iso_date(d),
      block_date_dmy = y and (day .. "/" .. m .. "/" .. y) or d,
      reasons = table.concat(reasons, ", "), operator = operator,
    }
    local rec = set.tacdb and row[1]:match("^%d+$") and set.tacdb:lookup(row[1])
    values.brand, values.model = rec and rec.brand or "", rec and rec.model or ""
    for _, lang in ipairs(set.langs) do
      local by = set.by[lang]
      local parts, cond
      for _, name in ipairs(reasons) do
        if by[name] then
          parts, cond = by[name], name
          break
        end
      end
      if not parts then parts, cond = by.default, reasons[1] or "" end
      -- load() made sure every notifying condition has one; a row without any is an error,
      -- never a notice sent empty
      if not parts then
        error({ message = ("notices: no template in language '%s' for the reasons '%s' of %s/%s (operator %s)")
          :format(lang, row[5] or "", row[1], row[2], operator) }, 0)
      end
      values.condition, values.lang = cond, lang
      out[#out + 1] = { row[1], row[2], row[3], row[4], row[5], lang, notices.fill(parts, values) }
    end
  end
  return out
end

notices.HEADER = { "imei", "imsi", "msisdn", "block_date", "reasons", "lang", "text" }

--- The file name of an operator's notices.
function notices.file(operator)
  return "notices_" .. operator .. ".csv"
end

--- Write notices_<OP>.csv for every operator of the lists into dir. Returns the names
-- written, or nil and why (text.io_error's message).
function notices.write(set, built, dir, check)
  local files = {}
  for _, op in ipairs(built.operators) do
    local name = notices.file(op)
    -- streaming (a run may notify millions); records end in LF as the lists do, a line
    -- end inside a text is quoted (RFC 4180 §2)
    local ok, err = text.write_csv(dir .. "/" .. name, notices.HEADER, built.notifications[op] or {}, {
      check = check, expand = function(row) return notices.rows(set, op, { row }) end,
    })
    if not ok then return nil, err end
    files[#files + 1] = name
  end
  return files
end

return notices
