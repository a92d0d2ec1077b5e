--- imei explain --policy FILE [--tacdb DB] [--lists DIR] [--state DIR | --store S] PEI [IMSI] [--json]
-- — why a request gets its verdict (docs/explain.md).

local explain = {}

function explain.configure(cmd)
  local util = require "imei.cli.util"
  util.engine_options(cmd)
  cmd:option("--state", "State folder of imei classify --state: its sightings and its register.")
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

--- What the national register of a state folder (imei classify --state, docs/register.md)
-- holds for the device: its block or unblock, the notice of this subscriber (the dates as
-- notified: a block date never slides), and each condition's first and last match. nil
-- when there is no register there (or this build has none).
function explain.register(state, pei, imsi)
  local ok, register = pcall(require, "imei.classify.register")
  if not ok or type(register) ~= "table" or type(register.history) ~= "function" then return nil end
  local parsed = require("imei").parse(pei) -- any form of the PEI: the register keeps the key
  local h_ok, h = pcall(register.history, state, parsed and parsed.key or pei)
  if not h_ok or type(h) ~= "table" then return nil end
  local rec = h.record
  if not rec then return { known = false } end
  local notices = 0
  for _ in pairs(rec.notices or {}) do notices = notices + 1 end
  return { known = true, block = rec.block, unblocked = rec.unblocked, notices = notices,
           notice = imsi and rec.notices and rec.notices[imsi] or nil, conditions = rec.conds }
end

function explain.run(args)
  local cli = require "imei.cli"
  if args.state and args.store then return cli.fail("explain", "give --state or --store, not both") end
  local store = args.store
  if args.state then -- a copy in memory: explaining changes nothing in the state
    local opened, why = require("imei.classify.register").open_sightings(args.state)
    if not opened then
      return cli.fail("explain", ("--state %s: no sightings (%s)"):format(args.state, tostring(why)))
    end
    store = opened
  end
  local engine, err = require("imei.engine").new {
    policy = args.policy, tacdb = args.tacdb, lists = args.lists, store = store,
  }
  if not engine then return cli.fail("explain", err) end
  local request = require("imei.cli.util").request(args)
  local register = args.state and explain.register(args.state, args.pei, args.imsi)
  local report
  if args.json then
    local text
    text, err = engine:explain_json(request)
    report = text and require("cjson").decode(text)
    if report and register then -- the engine's document, with the register's part
      report.register = register
      text = require("cjson").encode(report) .. "\n"
    end
    if text then io.write(text) end
  else
    report, err = engine:explain(request)
    if report then
      report.register = register or nil
      io.write(require("imei.explain.text").render(report))
    end
  end
  engine:close()
  if not report then return cli.fail("explain", err) end
  return report.verdict.failed and 3 or 0
end

return explain
