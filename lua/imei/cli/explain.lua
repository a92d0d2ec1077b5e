--- imei explain --policy FILE [--tacdb DB] [--lists DIR] [--state DIR | --store S] PEI [IMSI] [--json]
-- — why a request gets its verdict (docs/explain.md).

local explain = {}

function explain.configure(cmd)
  local util = require "imei.cli.util"
  util.engine_options(cmd)
  cmd:option("--state", "State folder of imei classify --state: its sightings (DIR/sightings, LMDB).")
  util.request_options(cmd)
  cmd:flag("--json", "Print the explanation as JSON (the shape imei-eird's /explain gives).")
  util.request_arguments(cmd)
  cmd:epilog([[
Explains the verdict `imei check` gives, with the same evaluation: every condition in
evaluation order (matched, not matched, exempted by its `unless` and why, overruled and
by which condition, failed and its error, not evaluated), the grace start, notice and
block dates, and the facts the conditions looked at (list memberships, distinct SIMs in
each window, first and paired SIM, the TAC record). Records no sighting.
Exit status: 0 explained; 2 the policy or its data cannot be loaded, or the explanation
failed; 3 explained, but a condition (or the whole policy) failed.

Example:
  imei explain --policy policies/example-country.lua --lists lists/ --store lmdb:/var/lib/imei/s \
      352099001761481 410010000000005 --operator 410-01]])
end

function explain.run(args)
  local cli = require "imei.cli"
  if args.state and args.store then return cli.fail("explain", "give --state or --store, not both") end
  local store = args.store
  if args.state then
    local path = args.state .. "/sightings"
    local f = io.open(path, "rb") or io.open(path .. "/data.mdb", "rb")
    if not f then return cli.fail("explain", ("--state %s: no sightings store at %s"):format(args.state, path)) end
    f:close()
    store = "lmdb:" .. path
  end
  local engine, err = require("imei.engine").new {
    policy = args.policy, tacdb = args.tacdb, lists = args.lists, store = store,
  }
  if not engine then return cli.fail("explain", err) end
  local request = require("imei.cli.util").request(args)
  local report
  if args.json then
    report, err = engine:explain_json(request)
    if report then io.write(report) end
    report = report and require("cjson").decode(report)
  else
    report, err = engine:explain(request)
    if report then io.write(require("imei.explain.text").render(report)) end
  end
  engine:close()
  if not report then return cli.fail("explain", err) end
  return report.verdict.failed and 3 or 0
end

return explain
