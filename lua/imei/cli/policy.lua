--- imei policy test|lint FILE... — run a policy's examples like a test runner, or
-- check a policy for problems a regulator should fix before it goes live.
local cli_util = require "imei.cli.util"

local policy_cmd = {}

function policy_cmd.configure(cmd)
  cmd:command_target("policy_command")
  local test = cmd:command("test", "Run the examples (P:example) of policy files.")
  test:argument("file", "Policy files."):args("+")
  test:flag("-v --verbose", "List passing examples too.")
  local lint = cmd:command("lint", "Load policy files and report problems and the rule table.")
  lint:argument("file", "Policy files."):args("+")
  lint:flag("--strict", "Warnings fail too (exit 1).")
  cmd:epilog([[
Examples:
  imei policy test policies/*.lua
  imei policy lint policies/example-country.lua]])
end

local function load(file)
  return require("imei.engine").new { policy = file, skip_examples = true, allow_missing_lists = true }
end

local function run_test(args)
  local passed, failed, broken = 0, 0, 0
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
        local failures = {}
        for _, f in ipairs(results.failed or {}) do failures[#failures + 1] = f end
        for _, f in ipairs(failures) do io.write(("  FAIL %s: %s\n"):format(f.at, f.message)) end
        if args.verbose then io.write(("  ok   %d examples passed\n"):format(results.passed)) end
        passed, failed = passed + results.passed, failed + #failures
        if results.total == 0 then io.write("  (no examples)\n") end
      end
      engine:close()
    end
  end
  io.write(("%d passed, %d failed%s\n"):format(passed, failed, broken > 0 and (", " .. broken .. " not loaded") or ""))
  if broken > 0 then return 2 end
  return failed > 0 and 1 or 0
end

local function fmt_grace(g)
  if type(g) == "number" then return g .. "d" end
  return g or "-"
end

local function run_lint(args)
  local errors, warnings = 0, 0
  for _, file in ipairs(args.file) do
    local engine, err = load(file)
    if not engine then
      errors = errors + 1
      io.write(("%s\n  error: %s\n"):format(file, err))
    else
      local info = assert(engine:info())
      local results = engine:examples() or { failed = {}, total = 0, passed = 0 }
      io.write(("%s — %s@%s%s, resolve = %s, default = %s\n"):format(file, info.name, info.version,
        info.base and (" (extends " .. info.base .. ")") or "", info.resolve, info.default))
      local covered = {}
      -- an example covers the conditions it names in reasons
      for _, f in ipairs(results.failed or {}) do
        errors = errors + 1
        io.write(("  error: example at %s fails: %s\n"):format(f.at, f.message))
      end
      local rows = { { "condition", "status", "grace", "flags", "defined at", "changed at" } }
      for _, c in ipairs(info.conditions or {}) do
        local flags = {}
        if c.disabled then flags[#flags + 1] = "disabled" end
        if c.final then flags[#flags + 1] = "final" end
        if c.sticky then flags[#flags + 1] = "sticky" end
        if c.blocking == false then flags[#flags + 1] = "informative" end
        rows[#rows + 1] = { c.name, c.status, fmt_grace(c.grace_days), table.concat(flags, ","), c.defined_at or "?",
                            c.changed_at or "" }
        covered[c.name] = false
      end
      io.write(cli_util.table(rows, "  "))
      for _, name in ipairs(info.example_reasons or {}) do covered[name] = true end
      for _, c in ipairs(info.conditions or {}) do
        if not c.disabled and not covered[c.name] then
          warnings = warnings + 1
          io.write(("  warning: condition '%s' has no example naming it in reasons\n"):format(c.name))
        end
      end
      if (info.examples or 0) == 0 then
        warnings = warnings + 1
        io.write("  warning: no examples: the policy cannot test itself on reload\n")
      end
      for _, w in ipairs(info.warnings or {}) do
        warnings = warnings + 1
        io.write("  warning: ", w, "\n")
      end
      engine:close()
    end
  end
  io.write(("%d error(s), %d warning(s)\n"):format(errors, warnings))
  if errors > 0 then return 2 end
  return (args.strict and warnings > 0) and 1 or 0
end

function policy_cmd.run(args)
  if args.test then return run_test(args) end
  return run_lint(args)
end

return policy_cmd
