--- imei classify --policy P --out DIR DUMP... — replay operator dumps through a policy,
-- write the CEIR lists (block list, per-operator notification and exception lists, their
-- deltas) and an impact report. The work is lua/imei/classify; this is the command line.
local classify_cmd = {}

function classify_cmd.configure(cmd, diff)
  if diff then -- imei diff OLD NEW DUMP...: the two policies are its first arguments
    cmd:argument("old", "The policy in force (compared, never listed).")
    cmd:argument("new", "The new policy: its lists are written.")
  else
    cmd:option("--policy", "Policy file (required, but with --verify).")
    cmd:option("--compare", "What-if: also decide every pair with this (old) policy in the same pass, " ..
      "and report which devices and subscribers change verdict, block date or notification (the lists stay the " ..
      "--policy's).")
  end
  cmd:option("--operator-policy", "MCC-MNC=FILE: the pairs whose IMSI's home network is MCC-MNC are decided by " ..
    "FILE, which must extend --policy (repeatable; other networks and roamers: --policy).")
    :count("*")
  cmd:option("--tacdb", "TAC database: a compiled image or a GSMA/Osmocom text file.")
  cmd:option("--lists", "Folder of CSV lists the policy reads (stolen.csv, registration.csv, pairing.csv, ...).")
  cmd:option("--store",
    "Sightings store: lmdb:PATH, a redis:// URL (shared), or memory for a what-if run that keeps nothing " ..
    "(default: kept in the state, as a snapshot restored and saved by each run).")
  cmd:option("--state", "The national register (LMDB folder): decisions and sightings kept from run to run " ..
                        "(default: --out/state).")
  cmd:option("--exceptions", "Appeals and exemptions CSV: imei,reason,until or imei,imsi,reason,until " ..
                             "(lifts a block or notice until that date).")
  cmd:option("--out", "Output folder for the lists and the report (created if missing; required, but with --verify).")
  if not diff then
    cmd:option("--verify", "Recompute the SHA-256 of every input and published file recorded in OUT/report.json " ..
                           "and say, per file, whether it still matches (exit 0 all match, 1 not, 2 error).")
      :argname("<OUT>")
  end
  cmd:option("--operator", "Operator of the dumps (default: from names Operator_Region_YYYYMMDD_YYYYMMDD.csv).")
  cmd:option("--columns", "Column layout of dumps without a header, e.g. imsi,msisdn,imei,date,- " ..
                          "(default date,imei,imsi,msisdn[,rat]).")
  cmd:option("--delimiter", "Field delimiter (default ',').")
  cmd:option("--date", "The run's date YYYYMMDD (default: the latest date in the dumps); later rows are refused.")
  cmd:option("--jobs", "Threads to use (default: the processors online).")
    :convert(math.tointeger)
  cmd:option("--max-rejected", "Stop when more rows than this are rejected (default: never).")
    :convert(math.tointeger)
  cmd:option("--notices", "Folder of notice templates CONDITION.LANG.txt: writes notices_<OPERATOR>.csv, the text " ..
                          "of each notification in each language (docs/classify.md).")
  cmd:flag("--force", "Write the lists even when a condition exceeds its safety ratio or the policy failed.")
  cmd:flag("--fresh", "Start the state over: an empty register and sightings store (deltas are still computed " ..
                     "against the lists in --out); the report says so.")
  cmd:flag("--json", "Print the report as JSON instead of text.")
  cmd:flag("-q --quiet", "Print nothing on success; no progress bar.")
  cmd:flag("--progress", "Draw the progress bar even when standard error is not a terminal.")
  cmd:argument("dump", "Operator dumps: date,imei,imsi,msisdn[,rat] CSV, plain or gzip; - for standard input.")
    :args("*")
  cmd:epilog([[
Writes into --out: blocklist.csv, notifications_<OPERATOR>.csv, exceptions_<OPERATOR>.csv,
their *_delta.csv against the lists already there, report.txt, report.json and report.html
(charts and sortable tables, self-contained), and with --notices notices_<OPERATOR>.csv. Every file
is written in a temporary folder and renamed into place at the end: an interrupted run
(Ctrl-C, kill) leaves --out as it was.

State: every decision is kept in the register (--state, default --out/state): a block
date once notified never slides, a blocked device stays blocked until an explicit cause
(list entry, pairing, appeal, policy change), a notice whose date has come blocks the
device even when it is no longer seen. A run of the same date and inputs as the last one
replaces it (the same lists, deltas and report). `imei history IMEI --state DIR` shows one
device's record. docs/register.md.

report.json keeps an audit trail: imei's version, the run date, the command line, the
SHA-256 and size of every input (each policy file of the extend chain, the TAC database,
each list, each dump) and of each published file. `imei classify --verify OUT` recomputes
them and names each file that changed or is missing.

Exit status: 0 lists written; 1 lists refused (a blocking condition hits more devices than
its safety ratio, max_ratio or 10%, or the policy failed: see the report; --force writes
them anyway); 2 an error (a file that cannot be read, a policy that does not load, ...).
Interrupted, it dies of the signal that stopped it, after cleaning up.

What-if (--compare OLD.lua, or 'imei diff'): the dumps are read once and every pair is
decided by both policies; report.txt gets a "What-if" section and report.json a
"compare" object (docs/classify.md): devices and subscribers whose verdict, block date or
notification changes, by condition, operator, brand and RBI, with examples, and the
safety ratios of both. Only --policy's lists are written.

Operator policies (--operator-policy 410-06=telenor.lua, repeatable): a pair is decided
by the policy of its IMSI's home network (MCC-MNC); roamers and networks without one get
--policy. Each must extend --policy (policy.extend), or the run is refused.

Example:
  imei gen --subscribers 20000 --days 30 --lists out/lists --out dumps/
  imei classify --policy policies/example-country.lua --tacdb data/osmocom-tacdb.csv \
      --lists out/lists --out out/ dumps/*.csv.gz
  imei classify --compare old-country.lua --policy policies/example-country.lua \
      --lists out/lists --out out/ dumps/*.csv.gz]])
end

function classify_cmd.run(args)
  local cli = require "imei.cli"
  local host = require "imei.host"
  local quiet = args.quiet
  local command = args.command or "classify"
  if args.verify then
    if args.policy or args.out or #args.dump > 0 then
      return cli.fail("classify", "--verify OUT takes no --policy, --out nor dumps: it checks a finished run")
    end
    local checked, verr = require("imei.classify.audit").verify(args.verify)
    if not checked then return cli.fail("classify --verify", verr) end
    if args.json then
      io.write(require("imei.classify.text").json({ files = checked.files, match = checked.code == 0 }, "  "), "\n")
    elseif not quiet or checked.code ~= 0 then
      io.write(checked.text)
    end
    return checked.code
  end
  if not (args.policy or args.new) then return cli.fail(command, "a policy file is required (--policy)") end
  if not args.out then return cli.fail(command, "an output folder is required (--out)") end
  if #args.dump == 0 then
    return cli.fail(command, "no dump to read: give one or more files, or - for standard input")
  end
  local command_line = { "imei" }
  for _, a in ipairs(args._argv or {}) do command_line[#command_line + 1] = a end
  local result, err = require("imei.classify").run {
    policy = args.policy or args.new, tacdb = args.tacdb, lists = args.lists, store = args.store, out = args.out,
    state = args.state, exceptions = args.exceptions,
    dumps = args.dump, operator = args.operator, columns = args.columns, delimiter = args.delimiter,
    date = args.date, jobs = args.jobs, max_rejected = args.max_rejected, force = args.force, fresh = args.fresh,
    compare = args.compare or args.old, operator_policies = args.operator_policy,
    notices = args.notices,
    progress = not quiet and (args.progress or host.isatty(2)), command_line = args._argv and command_line,
  }
  if not result then return cli.fail(args.command or "classify", err) end
  if result.interrupted then
    local sig = result.interrupted
    io.stderr:write(("imei classify: interrupted by %s: nothing was written to %s\n"):format(sig.name or "a signal",
      args.out))
    io.stderr:flush()
    if sig.signal then host.signals_reraise(sig.signal) end
    return 130
  end
  if args.json then
    io.write(require("imei.classify.text").json(result.report, "  "), "\n")
  elseif not quiet or result.code ~= 0 then
    io.write(result.text)
  end
  if result.late_signal then
    io.stderr:write(("imei classify: %s arrived while the files were being renamed; the run completed\n")
      :format(result.late_signal))
  end
  return result.code
end

return classify_cmd
