--- imei policy test|lint FILE... — run a policy's examples like a test runner, or
-- check a policy for problems a regulator should fix before it goes live.
--
-- lint's look at `d.NAME`, `r.NAME` and `lists.NAME` is a static scan of the policy's
-- files (the file and those it extends), by those names: it sees fields that no example
-- reaches, and needs no data; it does not follow other variable names (a condition that
-- calls its arguments `dev, req` is not scanned). Comments are skipped; strings are not.
local cli_util = require "imei.cli.util"

local policy_cmd = {}

function policy_cmd.configure(cmd)
  cmd:command_target("policy_command")
  local test = cmd:command("test", "Run the examples (P:example) of policy files, and those of the national "
    .. "policies they extend.")
  test:argument("file", "Policy files."):args("+")
  test:flag("-v --verbose", "List every example with its result.")
  local lint = cmd:command("lint", "Load policy files and report problems and the rule table.")
  lint:argument("file", "Policy files."):args("+")
  lint:flag("--strict", "Warnings fail too (exit 1).")
  lint:option("--lists", "A list folder: warn about lists the policy reads that it does not provide.")
  lint:flag("--json", "The report as JSON.")
  cmd:epilog([[
Examples:
  imei policy test -v policies/*.lua
  imei policy lint --lists lists/ policies/example-country.lua]])
end

local function load(file)
  return require("imei.engine").new { policy = file, skip_examples = true, allow_missing_lists = true }
end

local function example_line(e)
  local mark = ({ ok = "ok  ", fail = "FAIL", skip = "skip" })[e.result] or "?"
  local text = ("  %s %s"):format(mark, e.at or "?")
  if e.result == "fail" or e.result == "skip" then
    text = text .. ": " .. tostring(e.message)
  elseif e.note then
    text = text .. ": " .. e.note
  end
  if e.result ~= "fail" and e.from then text = text .. " (an example of " .. e.from .. ")" end
  return text .. "\n"
end

local function run_test(args)
  local passed, failed, skipped, broken = 0, 0, 0, 0
  for _, file in ipairs(args.file) do
    local engine, err = load(file)
    if not engine then
      broken = broken + 1
      io.write(("%s\n  LOAD ERROR: %s\n"):format(file, err))
    else
      local results, run_err = engine:examples()
      if not results then
        broken = broken + 1
        io.write(("%s\n  ERROR running examples: %s\n"):format(file, run_err))
      else
        io.write(("%s (%s)\n"):format(file, engine:policy_name()))
        for _, e in ipairs(results.examples or {}) do
          if args.verbose or e.result == "fail" then io.write(example_line(e)) end
        end
        passed, failed = passed + results.passed, failed + #results.failed
        skipped = skipped + (results.skipped or 0)
        if results.total == 0 then io.write("  (no examples)\n") end
      end
      engine:close()
    end
  end
  io.write(("%d passed, %d failed%s%s\n"):format(passed, failed,
    skipped > 0 and (", " .. skipped .. " skipped (inherited, naming a changed condition)") or "",
    broken > 0 and (", " .. broken .. " not loaded") or ""))
  if broken > 0 then return 2 end
  return failed > 0 and 1 or 0
end

-- ---- the static scan ----------------------------------------------------------------

-- Fields a host fills in a request (host/engine.c, server/: N5g-eir supi/gpsi, S13's
-- interface and origin); any other is a caller's extra, or a typo.
local REQUEST_FIELDS = {}
for name in ([[pei imei imsi msisdn operator rat time supi gpsi interface origin_host origin_realm]]):gmatch("%S+") do
  REQUEST_FIELDS[name] = true
end

--- Uses of d.NAME, r.NAME and lists.NAME / lists["NAME"] in the files: { {kind, name, at}, … }
local function scan(files)
  local uses = {}
  for _, path in ipairs(files) do
    local lineno = 0
    local ok, lines = pcall(io.lines, path) -- the files the engine just loaded
    for line in ok and lines or function() end do
      lineno = lineno + 1
      local code = line:gsub("%-%-.*$", "")
      local at = path .. ":" .. lineno
      for pos, var, name in code:gmatch("()%f[%w_]([dr])%.([%a_][%w_]*)") do
        local before = pos > 1 and code:sub(pos - 1, pos - 1) or ""
        if before ~= "." and before ~= ":" then uses[#uses + 1] = { kind = var, name = name, at = at } end
      end
      for pos, name in code:gmatch("()%f[%w_]lists%.([%a_][%w_]*)") do
        local before = pos > 1 and code:sub(pos - 1, pos - 1) or ""
        if before ~= "." and before ~= ":" then uses[#uses + 1] = { kind = "list", name = name, at = at } end
      end
      for name in code:gmatch("%f[%w_]lists%[%s*[\"']([^\"']+)[\"']%s*%]") do
        uses[#uses + 1] = { kind = "list", name = name, at = at }
      end
    end
  end
  return uses
end

-- The warnings of the scan: unknown d/r fields; lists not in the folder (when given).
local function scan_warnings(info, dir_lists, warn)
  local suggest = require("imei.policy").suggest
  local device_fields = require("imei.policy.runtime").DEVICE_FIELDS
  local used_lists, order = {}, {}
  for _, use in ipairs(scan(info.files or {})) do
    if use.kind == "d" and not device_fields[use.name] then
      warn(("%s: d.%s is not a field of the device record%s"):format(use.at, use.name,
        suggest(use.name, device_fields)))
    elseif use.kind == "r" and not REQUEST_FIELDS[use.name] then
      warn(("%s: r.%s is not a request field a host fills (%s)%s"):format(use.at, use.name,
        "pei, imei, imsi, msisdn, operator, rat, time, supi, gpsi, interface, origin_host, origin_realm",
        suggest(use.name, REQUEST_FIELDS)))
    elseif use.kind == "list" and not used_lists[use.name] then
      used_lists[use.name] = use.at
      order[#order + 1] = use.name
    end
  end
  local optional = {}
  for _, need in ipairs(info.required_lists or {}) do
    optional[need.name] = need.optional or nil
    if not used_lists[need.name] then
      used_lists[need.name] = need.at or "requires_list"
      order[#order + 1] = need.name
    end
  end
  if dir_lists then
    for _, name in ipairs(order) do
      if not dir_lists.set[name] then
        warn(("%s: the policy reads list '%s', and %s has no %s.csv%s%s"):format(used_lists[name], name,
          dir_lists.dir, name, optional[name] and " (optional: it reads as empty)" or "", suggest(name, dir_lists.set)))
      end
    end
  end
  return order
end

-- ---- lint -------------------------------------------------------------------------------

local function fmt_grace(g)
  if type(g) == "number" then return g .. "d" end
  return g or "-"
end

local function fmt_rbi(days)
  local keys = {}
  for rbi in pairs(days) do if rbi ~= "default" then keys[#keys + 1] = rbi end end
  table.sort(keys)
  local parts = {}
  for _, rbi in ipairs(keys) do parts[#parts + 1] = ("%s=%sd"):format(rbi, days[rbi]) end
  if days.default then parts[#parts + 1] = ("default=%sd"):format(days.default) end
  return table.concat(parts, " ")
end

local function flags_of(c)
  local flags = {}
  if c.disabled then flags[#flags + 1] = "disabled" end
  if c.locked then flags[#flags + 1] = "locked" end
  if c.final then flags[#flags + 1] = "final" end
  if c.sticky then flags[#flags + 1] = "sticky" end
  if c.blocking == false then flags[#flags + 1] = "informative" end
  return table.concat(flags, ",")
end

-- The folder's list names (its NAME.csv files), or nil and a message.
local function folder_lists(dir)
  local lists, err = require("imei.engine").open_lists(dir)
  if not lists then return nil, err end
  local set = {}
  for _, name in ipairs(lists:names()) do set[name] = true end
  return { dir = dir, set = set }
end

-- One file's report: { file, policy, conditions, examples, warnings, errors }.
local function lint_file(file, dir_lists)
  local report = { file = file, warnings = {}, errors = {} }
  local engine, err = load(file)
  if not engine then
    report.errors[1] = err
    return report
  end
  local info = assert(engine:info())
  local results = engine:examples() or { failed = {}, total = 0, passed = 0, examples = {} }
  engine:close()
  report.policy, report.base, report.resolve, report.default = info.name .. "@" .. info.version, info.base,
    info.resolve, info.default
  report.national, report.files, report.conditions = info.national or false, info.files, info.conditions or {}
  report.examples = { total = results.total, passed = results.passed, skipped = results.skipped or 0,
                      inherited = 0 }
  for _, e in ipairs(results.examples or {}) do
    if e.from then report.examples.inherited = report.examples.inherited + 1 end
  end
  local function warn(w) report.warnings[#report.warnings + 1] = w end
  for _, f in ipairs(results.failed or {}) do
    report.errors[#report.errors + 1] = ("example at %s fails: %s"):format(f.at, f.message)
  end
  local covered = {}
  for _, name in ipairs(info.example_reasons or {}) do covered[name] = true end
  for _, c in ipairs(report.conditions) do
    if not c.disabled and not covered[c.name] then
      warn(("condition '%s' has no example naming it in reasons"):format(c.name))
    end
  end
  if (info.examples or 0) == 0 then warn("no examples: the policy cannot test itself on reload") end
  for _, c in ipairs(report.conditions) do
    if c.locked and c.locked_by == report.policy and not report.national then
      warn(("condition '%s' is locked, but the policy is not national = true: its examples do not run against "
        .. "the policies that extend it"):format(c.name))
      break
    end
  end
  for _, w in ipairs(info.warnings or {}) do warn(w) end
  report.lists = scan_warnings(info, dir_lists, warn)
  return report
end

local function write_report(r)
  if not r.policy then
    io.write(("%s\n  error: %s\n"):format(r.file, r.errors[1]))
    return
  end
  io.write(("%s — %s%s, resolve = %s, default = %s\n"):format(r.file, r.policy,
    r.base and (" (extends " .. r.base .. ")") or "", r.resolve, r.default))
  for _, e in ipairs(r.errors) do io.write("  error: ", e, "\n") end
  local rows = { { "condition", "status", "grace", "max_ratio", "flags", "defined at", "changed at" } }
  local rbi = {}
  for _, c in ipairs(r.conditions) do
    rows[#rows + 1] = { c.name, c.status, fmt_grace(c.grace_days), c.max_ratio and tostring(c.max_ratio) or "-",
                        flags_of(c), c.defined_at or "?", c.changed_at or "" }
    if c.grace_by_rbi then rbi[#rbi + 1] = ("  grace of %s by RBI: %s\n"):format(c.name, fmt_rbi(c.grace_by_rbi)) end
  end
  io.write(cli_util.table(rows, "  "))
  io.write(table.concat(rbi))
  for _, c in ipairs(r.conditions) do
    if c.locked then
      io.write(("  locked: %s (by %s at %s)\n"):format(c.name, c.locked_by or "?", c.locked_at or "?"))
    end
  end
  local ex = r.examples
  io.write(("  examples: %d (%d inherited from national policies, %d skipped)%s\n"):format(ex.total, ex.inherited,
    ex.skipped, r.national and "; national: they also run against every policy that extends this one" or ""))
  if #r.lists > 0 then io.write("  lists read: ", table.concat(r.lists, ", "), "\n") end
  for _, w in ipairs(r.warnings) do io.write("  warning: ", w, "\n") end
end

local function run_lint(args)
  local dir_lists
  if args.lists then
    local err
    dir_lists, err = folder_lists(args.lists)
    if not dir_lists then
      io.stderr:write("imei policy lint: ", tostring(err), "\n")
      return 2
    end
  end
  local errors, warnings, reports = 0, 0, {}
  for _, file in ipairs(args.file) do
    local r = lint_file(file, dir_lists)
    reports[#reports + 1] = r
    errors, warnings = errors + #r.errors, warnings + #r.warnings
    if not args.json then write_report(r) end
  end
  if args.json then
    -- the JSON of batch replay (keys sorted; empty lists as [], not {})
    local text = require "imei.classify.text"
    for _, r in ipairs(reports) do
      for _, list in ipairs { r.errors, r.warnings, r.conditions or {}, r.lists or {}, r.files or {} } do
        setmetatable(list, text.ARRAY)
      end
    end
    io.write(text.json({ files = setmetatable(reports, text.ARRAY), errors = errors, warnings = warnings }, "  "),
      "\n")
  else
    io.write(("%d error(s), %d warning(s)\n"):format(errors, warnings))
  end
  if errors > 0 then return 2 end
  return (args.strict and warnings > 0) and 1 or 0
end

function policy_cmd.run(args)
  if args.test then return run_test(args) end
  return run_lint(args)
end

return policy_cmd
