--- imei check --policy FILE [--tacdb DB] [--lists DIR] PEI [IMSI] — one verdict.

local check = {}

-- `imei check` exits with this when a verdict was given but a condition (or the policy) failed.
check.EXIT_FAILED = 3

function check.configure(cmd)
  local util = require "imei.cli.util"
  util.engine_options(cmd)
  util.request_options(cmd)
  cmd:flag("--record", "Record the sighting in the store before deciding.")
  cmd:flag("--json", "Print the verdict as JSON.")
  util.request_arguments(cmd)
  cmd:epilog([[
Prints the verdict: WHITELISTED, GREYLISTED, BLACKLISTED or UNKNOWN, with the conditions
that produced it. A condition that failed (an error, its share of the budget) is listed as
FAILED with why; it decided nothing (or its own on_error status), the others decided.
Exit status:
  0  a verdict was given (whatever it is) and every condition ran
  2  the policy or its data cannot be loaded
  3  a verdict was given, but a condition failed (or the whole policy did: then the
     status is the engine's on_error status)

Example:
  imei check --policy policies/example-country.lua --tacdb data/osmocom-tacdb.csv \
      imei-352099001761481 410010000000001]])
end

function check.run(args)
  local cli = require "imei.cli"
  local engine, err = require("imei.engine").new {
    policy = args.policy, tacdb = args.tacdb, lists = args.lists, store = args.store, record = args.record,
  }
  if not engine then return cli.fail("check", err) end
  local verdict = engine:check(require("imei.cli.util").request(args))
  if args.json then
    io.write(require("cjson").encode(verdict), "\n")
  else
    io.write(("%s  %s  (%s)\n"):format(args.pei, verdict.status, verdict.policy))
    for _, r in ipairs(verdict.reasons) do
      local notes = {}
      if r.failed then notes[#notes + 1] = "FAILED: " .. tostring(r.error) end
      if r.overruled then notes[#notes + 1] = "overruled by " .. tostring(r.overruled_by) end
      if r.informative and not r.failed then notes[#notes + 1] = "informative" end
      if r.block_date then notes[#notes + 1] = "block " .. r.block_date end
      io.write(("  %-26s %-12s %s%s\n"):format(r.condition, r.status, r.text or "",
        #notes > 0 and (" [" .. table.concat(notes, ", ") .. "]") or ""))
    end
    if verdict.notify then io.write("  notify the subscriber: blocked from ", verdict.block_date, "\n") end
    if verdict.failed and #verdict.reasons == 0 then io.write("  POLICY FAILED: ", tostring(verdict.error), "\n") end
  end
  engine:close()
  return verdict.failed and check.EXIT_FAILED or 0
end

return check
