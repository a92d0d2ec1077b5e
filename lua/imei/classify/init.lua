--- imei.classify — batch replay: classify operator dumps with a policy, write the CEIR
-- lists and an impact report (docs/classify.md).
--
--   local classify = require "imei.classify"
--   local result, err = classify.run {
--     policy = "policies/example-country.lua", tacdb = "data/osmocom-tacdb.csv",
--     lists = "lists/", store = "memory", out = "out/",
--     dumps = { "Jazz_Punjab_20260101_20260131.csv.gz" },
--   }
--   result.code     --> 0 lists written, 1 lists refused (safety ratio, policy failures)
--   result.report   --> the report table (also out/report.json), result.text its text
--   result.interrupted --> { signal =, name = } when SIGINT/SIGTERM/SIGHUP stopped it
--
-- The work (reading, recording, deciding) is C (host/replay*.c); this module drives it in
-- slices, so that a progress bar can be drawn and a signal handled between two slices,
-- then decides the lists (imei.classify.lists) and writes everything into a temporary
-- folder inside `out`, renaming each file into place only at the end: an interrupted
-- run leaves `out` as it was.
local host = require "imei.host"
local audit = require "imei.classify.audit"
local dumps = require "imei.classify.dumps"
local compare = require "imei.classify.compare"
local lists = require "imei.classify.lists"
local notices = require "imei.classify.notices"
local html = require "imei.classify.html"
local progress_bar = require "imei.classify.progress"
local register = require "imei.classify.register"
local report = require "imei.classify.report"
local text = require "imei.classify.text"

local classify = {}

local TMP_PATTERN = "^%.classify%-%d+%.tmp$"

-- The policy's data, as the engine opens it: from an object or a path.
local engine_mod = require "imei.engine"
local open_tacdb, open_lists, open_store = engine_mod.open_tacdb, engine_mod.open_lists, engine_mod.open_store

-- mkdir -p
local function make_dirs(path)
  local size, _, isdir = host.file_size(path)
  if size then
    if isdir then return true end
    return nil, path .. ": not a directory"
  end
  local parent = path:match("^(.*)/[^/]+/*$")
  if parent and parent ~= "" then
    local ok, err = make_dirs(parent)
    if not ok then return nil, err end
  end
  local ok, err, code = host.mkdir(path)
  if not ok and code ~= 17 then return nil, err end -- 17: EEXIST
  return true
end

local function remove_tree(dir)
  local names = host.listdir(dir)
  for _, name in ipairs(names or {}) do os.remove(dir .. "/" .. name) end
  host.rmdir(dir)
end

local function normalise_date(d)
  if d == nil then return nil end
  local y, m, day = d:match("^(%d%d%d%d)%-?(%d%d)%-?(%d%d)$")
  if not y or not dumps.valid_date(y .. m .. day) then
    return nil, ("--date '%s': give a date YYYYMMDD"):format(d)
  end
  return y .. m .. day
end

-- dir/name of each name
local function paths_in(dir, names)
  local paths = {}
  for i, name in ipairs(names) do paths[i] = dir .. "/" .. name end
  return paths
end

local function iso_now()
  return os.date("!%Y-%m-%dT%H:%M:%SZ")
end

--- Run a replay. See the module comment; opts:
--   policy (required), tacdb, lists, store ("memory" | "lmdb:PATH" | a store), out (required),
--   dumps (required, paths; "-" is standard input), operator, columns, delimiter, date,
--   force, fresh, jobs, max_rejected, progress (draw the bar), lua_path,
--   compare (OLD policy file: what-if, report's `compare`), operator_policies
--   ({ "410-06=telenor.lua", … }: each home network's own policy), notices (a folder
--   of notice templates: notices_<OP>.csv, imei.classify.notices), command_line (the argv
--   to record in the audit trail), digest_dumps (false: leave the dumps' SHA-256 out of
--   the audit trail, for measuring what it costs; --verify then reports them not hashed).
-- Returns the result, or nil and a message (file, line, field and reason where one applies).
local function run_replay(opts)
  assert(type(opts) == "table", "classify.run expects a table of options")
  if type(opts.policy) ~= "string" then return nil, "a policy file is required (--policy)" end
  if type(opts.out) ~= "string" or opts.out == "" then return nil, "an output folder is required (--out)" end
  if type(opts.dumps) ~= "table" or #opts.dumps == 0 then return nil, "no dump to read" end
  local started, t0 = iso_now(), host.monotime()
  local run_date, date_err = normalise_date(opts.date)
  if date_err then return nil, date_err end
  local jobs = math.tointeger(opts.jobs) or host.ncpu()
  if jobs < 1 then return nil, "--jobs must be at least 1" end

  local described = {}
  for i, path in ipairs(opts.dumps) do
    local d, err = dumps.describe(path, opts.operator)
    if not d then return nil, err end
    if d.operator:match("_delta$") then
      return nil, ("%s: operator '%s': a name may not end with _delta (the lists' deltas are named so)")
        :format(path, d.operator)
    end
    if path ~= "-" then
      local size, why, isdir = host.file_size(path)
      if not size then return nil, why end
      if isdir then return nil, path .. ": is a directory" end
    end
    described[i] = d
  end

  -- the dumps' digests (the audit trail) on a thread of their own with 2 jobs, from now:
  -- beside the loading of the policy and lists below, which keeps one processor
  local digests <close> = audit.start(opts.dumps, jobs >= 2, opts.digest_dumps == false,
    { type(opts.tacdb) == "string" and opts.tacdb or nil })

  local tacdb, err = open_tacdb(opts.tacdb)
  if opts.tacdb and not tacdb then return nil, err end
  local list_set
  list_set, err = open_lists(opts.lists)
  if opts.lists and not list_set then return nil, err end
  -- the state: the register and, unless --store says otherwise, the sightings store
  local state_dir = register.state_dir(opts)
  local keep = opts.store ~= "memory"
  local appeals
  if opts.exceptions then
    appeals, err = register.read_exceptions(opts.exceptions)
    if not appeals then return nil, err end
  end
  -- the sightings: by default a memory store, restored from the state's snapshot and saved
  -- back into it in the register's transaction (memory speed, one atomic commit)
  local own_memory = opts.store == nil or opts.store == "memory"
  local store
  store, err = open_store(register.store_spec(opts))
  if not store then return nil, err end

  -- the policy, loaded once with its examples (they must pass), for its description
  local engine
  engine, err = engine_mod.new { policy = opts.policy, tacdb = tacdb, lists = list_set, store = store,
                                               lua_path = opts.lua_path }
  if not engine then return nil, err end
  local info = engine:info()
  engine:close()
  local sticky, conditions, cond_info, effective_of = {}, {}, {}, {}
  for _, c in ipairs(info.conditions or {}) do
    cond_info[c.name] = c
    if c.effective then effective_of[c.name] = c.effective:gsub("%-", "") end
    if c.sticky then sticky[c.name] = true end
    conditions[#conditions + 1] = { name = c.name, status = c.status }
  end
  -- what-if: the policy compared (OLD), loaded once the same way; operator policies,
  -- each checked to extend the national one (imei.classify.compare)
  local data = { tacdb = tacdb, lists = list_set, store = store, lua_path = opts.lua_path }
  local old_info, old_conditions
  if opts.compare ~= nil then
    if type(opts.compare) ~= "string" then return nil, "--compare expects a policy file" end
    old_info, old_conditions = compare.describe(engine_mod, opts.compare, data)
    if not old_info then return nil, "--compare " .. opts.compare .. ": " .. old_conditions end
  end
  local op_policies, networks
  if opts.operator_policies and #opts.operator_policies > 0 then
    op_policies, networks = compare.operator_policies(engine_mod, opts.operator_policies, info, opts.policy,
      conditions, data)
    if not op_policies then return nil, networks end
    info = compare.with_operator_conditions(info, op_policies, sticky)
    for _, c in ipairs(info.conditions) do -- the register knows the operators' conditions too
      if not cond_info[c.name] then
        cond_info[c.name] = c
        if c.effective then effective_of[c.name] = c.effective:gsub("%-", "") end
      end
    end
  end
  -- the notice templates (of every condition, the operator policies' too), checked before
  -- anything is read (a bad one names its file and line)
  local templates
  if opts.notices then
    templates, err = notices.load(opts.notices, info.conditions, host.listdir, text.read_file, tacdb)
    if not templates then return nil, err end
  end

  -- the output folder: ours alone while we write (a lock on the folder itself)
  local ok
  ok, err = make_dirs(opts.out)
  if not ok then return nil, err end
  local lock
  lock, err = host.lock_dir(opts.out)
  if not lock then return nil, err end
  local names = host.listdir(opts.out) or {}
  for _, name in ipairs(names) do
    if name:match(TMP_PATTERN) then remove_tree(opts.out .. "/" .. name) end -- left by a killed run
  end
  local previous
  previous, err = lists.read_previous(opts.out, names)
  if not previous then
    lock:unlock()
    return nil, "the previous run's lists: " .. err
  end
  local previous_report = report.read_previous(opts.out .. "/report.json")
  local base_files = lists.base_files(opts.out, names)
  base_files["report.json"] = text.read_file(opts.out .. "/report.json")
  -- the state: a run that creates it and commits nothing (an error, a signal, refused
  -- lists) leaves none behind
  local state_existed = host.file_size(state_dir .. "/register") ~= nil
  if keep then
    local ok_dirs, derr = make_dirs(state_dir)
    if not ok_dirs then
      lock:unlock()
      return nil, derr
    end
  end
  local reg
  reg, err = register.for_run(state_dir, keep, opts.fresh)
  if not reg then
    lock:unlock()
    return nil, err
  end
  local committed = false
  local function close_reg()
    reg:close()
    if keep and not state_existed and not committed then
      remove_tree(state_dir .. "/register")
      host.rmdir(state_dir) -- only when empty
    end
  end
  if own_memory and not opts.fresh then
    local rok, rerr, restored = register.restore_snapshot(reg, store)
    if not rok then
      close_reg()
      lock:unlock()
      return nil, ("%s/register: the sightings kept in the state: %s"):format(state_dir, tostring(rerr))
    end
    if restored then
      -- the register's pages the snapshot was read from (mapped, as large as the store)
      -- are not needed again: give them back before the dumps are read, so that they do
      -- not add to the run's peak memory
      rok, rerr = reg:remap()
      if not rok then
        close_reg()
        lock:unlock()
        return nil, rerr
      end
    end
  end

  local replay
  replay, err = host.replay_new {
    store = store, tacdb = tacdb, columns = opts.columns, delimiter = opts.delimiter, run_date = run_date,
    reader_thread = jobs >= 2, readers = jobs,
    -- a store classify opened is only read once the dumps are in: frozen (its queries skip
    -- the lock); a store object the caller passed stays writable for them
    freeze_store = type(opts.store) ~= "userdata" and type(opts.store) ~= "table",
  }
  if not replay then
    close_reg()
    lock:unlock()
    return nil, err
  end
  for i, path in ipairs(opts.dumps) do
    local d = described[i]
    local idx, add_err = replay:add_file(path, d.operator, d.first, d.last)
    if not idx then
      replay:close()
      close_reg()
      lock:unlock()
      return nil, add_err
    end
  end

  -- a signal caught so far (classify.run's handler is in place from the start) stops the
  -- run at its first check below, which cleans up what the setup made
  local tmp = ("%s/.classify-%d.tmp"):format(opts.out, host.getpid())
  local mkdir_code
  ok, err, mkdir_code = host.mkdir(tmp)
  if not ok then
    err = text.io_error(tmp, err, mkdir_code)
    host.signals_restore()
    replay:close()
    close_reg()
    lock:unlock()
    return nil, err
  end
  local bar = progress_bar.new(opts.progress)

  local INTERRUPTED = {}
  local function check()
    if host.signals_caught() then error(INTERRUPTED, 0) end
  end
  local function step_error(e)
    if host.signals_caught() then error(INTERRUPTED, 0) end -- a read cut short by the signal
    error({ message = e }, 0)
  end

  -- the state's generation before and after this run, for the audit trail; stays nil
  -- (null in report.json) when no persistent state is kept. The persistent state
  -- (--state) sets both before audit.build below: generation_before when it opens,
  -- generation_after = the generation its commit will write.
  local state_generation = { generation_before = nil, generation_after = nil }

  local function body()
    -- 1. read and record (the dumps' digests on their thread beside, with 2 jobs)
    local t_read = host.monotime()
    while true do
      local state, e = replay:ingest(100)
      if not state then step_error(e) end
      if state == "stopped" then error(INTERRUPTED, 0) end
      local p = replay:progress()
      if opts.max_rejected and p.rejected > opts.max_rejected then
        error({ message = ("more than %d rows rejected (--max-rejected): stopped; see the first ones with " ..
                           "--max-rejected unset"):format(opts.max_rejected) }, 0)
      end
      if state == "done" then break end
      local f = described[p.file]
      bar:reading(p, host.monotime() - t_read, f and opts.dumps[p.file]:match("([^/]*)$"))
    end
    check()
    local digested = digests.finish()
    local totals = replay:totals()
    local date = totals.run_date or run_date or os.date("!%Y%m%d")
    -- 2. decide
    local t_eval = host.monotime()
    local started_ok, eval_err = replay:evaluate {
      policy = opts.policy, tacdb = tacdb, lists = list_set, store = store, lua_path = opts.lua_path or package.path,
      threads = jobs, conditions = conditions,
      compare = opts.compare, compare_conditions = old_conditions, networks = networks,
    }
    if not started_ok then step_error(eval_err) end
    while true do
      local state, e = replay:wait(100)
      if not state then step_error(e) end
      if state == "stopped" then error(INTERRUPTED, 0) end
      if state == "done" then break end
      bar:evaluating(replay:progress(), host.monotime() - t_eval)
    end
    check()
    bar:note("writing the lists")
    local t_lists = host.monotime()
    -- 3. the lists and the report
    -- the register: this run's transaction (a re-run of the last date replaces that run)
    -- what the run read: the same date and the same inputs make it a re-run
    local fp = { date = date, policy = info.name .. "@" .. info.version, files = {}, lists = {}, appeals = appeals,
                 options = { notices = opts.notices, compare = opts.compare, operator_policies = opts.operator_policies,
                             force = opts.force, columns = opts.columns, delimiter = opts.delimiter,
                             operator = opts.operator } }
    for _, f in ipairs(replay:files()) do fp.files[#fp.files + 1] = { f.path, f.bytes, f.rows, f.accepted } end
    for _, name in ipairs(list_set and list_set:names() or {}) do
      fp.lists[#fp.lists + 1] = { name, list_set:get(name):report().sha256 }
    end
    local fingerprint = text.json(fp)
    local rinfo = keep and reg:begin(date, opts.fresh, fingerprint) or { generation_before = reg:generation() }
    if rinfo.rerun then
      previous = assert(lists.read_previous(opts.out, nil, rinfo.prev_files))
      base_files = rinfo.prev_files
      previous_report = report.read_previous(nil, rinfo.prev_files["report.json"])
    end
    local generation = rinfo.generation_before + 1
    if keep then -- the audit trail's (what-if runs keep no state: null there)
      state_generation.generation_before, state_generation.generation_after = rinfo.generation_before, generation
    end
    local reg_counts
    local built = lists.build(replay, { run_date = date, previous = previous, sticky = sticky, fresh = opts.fresh,
      check = check, effective = effective_of, register = function(block, notifications, exceptions)
        local causes, counts = reg:reconcile(block, notifications, exceptions, {
          date = date, generation = generation, replay = replay, conditions = cond_info,
          order = replay:condition_names(), appeals = appeals,
          cause_of = register.cause_finder(list_set, store), msisdns_of = register.msisdn_finder(store),
          write = keep,
        })
        reg_counts = counts
        return causes, counts
      end })
    local run = {
      date = date, started = started, out = opts.out, policy_file = opts.policy,
      tacdb = type(opts.tacdb) == "string" and opts.tacdb or nil,
      lists = type(opts.lists) == "string" and opts.lists or nil,
      store = type(opts.store) == "string" and opts.store or (opts.store and "object") or "state",
      dumps = text.array(opts.dumps), jobs = jobs, reader_thread = jobs >= 2,
      forced = opts.force or false, fresh = opts.fresh or false, date_given = run_date ~= nil,
      state = keep and state_dir or nil, exceptions = opts.exceptions,
      id = ("%s-g%d-%d"):format(started, generation, host.getpid()),
    }
    local r = report.build { replay = replay, info = info, run = run, built = built, brands_db = tacdb,
                             lists = list_set }
    -- the other policies read: --compare's chain, each --operator-policy's chain (the
    -- national files it extends are recorded once, as "policy")
    local other_inputs, seen_file = {}, {}
    local function key(f) return host.realpath(f) or f end -- one file by two paths is one file
    for _, f in ipairs(info.files or {}) do seen_file[key(f)] = true end
    local function other(role, files)
      for _, f in ipairs(files or {}) do
        if not seen_file[key(f)] then
          seen_file[key(f)] = true
          other_inputs[#other_inputs + 1] = { role = role, path = f }
        end
      end
    end
    other("compare", old_info and old_info.files)
    for _, p in ipairs(op_policies or {}) do other("operator_policy", p.info and p.info.files) end
    local audit_err
    r.audit, audit_err = audit.build {
      digests = digested, skip_dumps = opts.digest_dumps == false, policy_files = info.files, tacdb = run.tacdb,
      other_inputs = other_inputs, lists_loaded = r.lists_loaded,
      dumps = opts.dumps, run_date = date, command_line = opts.command_line,
      state = state_generation,
    }
    if not r.audit then error({ message = audit_err }, 0) end
    r.performance.digest_wait_seconds = digests.wait_seconds
    if op_policies then r.operator_policies = compare.operator_section(replay, info, opts.policy, op_policies) end
    if old_info then
      r.compare = compare.section { replay = replay, report = report, new_info = info, old_info = old_info,
                                    new_file = opts.policy, old_file = opts.compare, brands_db = tacdb }
      r.performance.compared = true
    end
    -- the replay's pairs and sightings are all in r and built now: freed before the lists
    -- are written and the store's snapshot is taken (the run's last memory peak)
    replay:close()
    local refused = text.array()
    for _, name in ipairs(r.over_ratio) do
      for _, c in ipairs(r.conditions) do
        if c.name == name then
          refused[#refused + 1] = ("condition '%s' hits %s of the devices (%s of %s), over its safety ratio of %s%s")
            :format(name, text.percent(c.share), text.count(c.devices), text.count(r.devices.total),
              text.percent(c.max_ratio), c.max_ratio_default and " (the default: it sets no max_ratio)" or "")
        end
      end
    end
    if r.policy_failures.count > 0 then
      refused[#refused + 1] = ("the policy failed on %s pairs (their verdicts are not the policy's)")
        :format(text.count(r.policy_failures.count))
    end
    r.refused = refused
    r.run.rerun = rinfo.rerun or false -- it replaced the last run, of the same date
    local not_effective = text.array()
    for _, c in ipairs(r.conditions) do
      local d = cond_info[c.name]
      local eff = d and d.effective and d.effective:gsub("%-", "")
      if eff and date < eff then
        not_effective[#not_effective + 1] = { name = c.name, effective = d.effective, devices = c.devices }
      end
    end
    r.register = {
      state = state_dir, kept = keep, store = (not keep) and "memory" or nil, fresh = opts.fresh or false,
      older = rinfo.older, generation_before = rinfo.generation_before,
      generation_after = keep and generation or rinfo.generation_before, counts = reg_counts or {},
      not_effective = not_effective,
    }
    local write_lists = #refused == 0 or opts.force == true
    local files = {}
    if write_lists then
      local written, werr = lists.write(built, tmp, check)
      if not written then error({ message = werr }, 0) end
      files = written
      if templates then
        written, werr = notices.write(templates, built, tmp, check)
        if not written then error({ message = werr }, 0) end
        for _, name in ipairs(written) do files[#files + 1] = name end
      end
    end
    -- the lists on their way to disk (threads of their own) while the report is made
    local nlists = #files
    local lists_synced <close> = host.fsync_start(paths_in(tmp, files))
    r.lists_written = write_lists
    r.files = text.array(files)
    r.performance.setup_seconds = t_read - t0          -- policy, TAC database, lists, store
    r.performance.lists_seconds = host.monotime() - t_lists -- lists, deltas, report
    r.performance.total_seconds = host.monotime() - t0
    r.performance.rows_per_second = r.performance.total_seconds > 0 and r.input.rows / r.performance.total_seconds
    r.previous = previous_report
    local report_text = report.text(r) .. register.report_section(r.register)
    for _, item in ipairs({ { "report.txt", report_text }, { "report.html", html.render(r) } }) do
      local wok, werr = text.write_file(tmp .. "/" .. item[1], item[2])
      if not wok then error({ message = werr }, 0) end
      files[#files + 1] = item[1]
    end
    -- every published file's digest in the report (it cannot hold its own)
    local wok, werr = audit.outputs(r.audit, tmp, files)
    if not wok then error({ message = werr }, 0) end
    wok, werr = text.write_file(tmp .. "/report.json", text.json(r, "  ") .. "\n")
    if not wok then error({ message = werr }, 0) end
    files[#files + 1] = "report.json"
    check()
    -- 4. every file on disk first (a full disk shows here, before --out is touched) ...
    --    (side by side: the file system commits them together, host/lua_fsync.c): the
    --    lists' syncs begun above, then the report's
    local paths = paths_in(tmp, files)
    local sok, serr, scode, sidx = lists_synced:wait()
    if sok then
      sok, serr, scode, sidx = host.fsync_files(table.move(paths, nlists + 1, #paths, 1, {}))
      if sidx then sidx = sidx + nlists end
    end
    if not sok then error({ message = text.io_error(paths[sidx], serr, scode) }, 0) end
    -- the sightings are kept by the commit (the snapshot written into the register)
    local snapshot_of = keep and write_lists and own_memory and store or nil
    -- ... then commit: the register (one LMDB transaction), then every file renamed into
    -- place; signals wait until it is done
    host.signals_block(true)
    if keep and write_lists then -- lists refused: nothing was decided, nothing is kept
      local cok, cerr = pcall(reg.commit, reg, date, generation, base_files,
        { generation = generation, date = date, started = started, id = run.id, policy = info.name .. "@" ..
          info.version, dumps = run.dumps, fresh = run.fresh, exceptions = opts.exceptions }, fingerprint, snapshot_of)
      if not cok then
        host.signals_block(false)
        error(type(cerr) == "table" and cerr or { message = tostring(cerr) }, 0)
      end
      committed = true
    end
    -- (every file was synced above: the renames need only the folder synced, once, after
    -- the last of them)
    for _, name in ipairs(files) do
      local rok, rerr, rcode = os.rename(tmp .. "/" .. name, opts.out .. "/" .. name)
      if not rok then
        host.signals_block(false)
        error({ message = text.io_error(opts.out .. "/" .. name, rerr, rcode) }, 0)
      end
    end
    local dok, derr, dcode = host.fsync(opts.out)
    if not dok then
      host.signals_block(false)
      error({ message = text.io_error(opts.out, derr, dcode) }, 0)
    end
    host.rmdir(tmp)
    -- notices of an earlier run that this run did not write would be sent as if current
    if write_lists and not templates then
      for _, name in ipairs(host.listdir(opts.out) or {}) do
        if name:match("^notices_.+%.csv$") then os.remove(opts.out .. "/" .. name) end
      end
    end
    host.signals_block(false)
    return { code = write_lists and 0 or 1, report = r, text = report_text, files = files }
  end

  local run_ok, result = pcall(body)
  bar:done()
  replay:close()
  if not run_ok then reg:abort() end
  close_reg()
  if type(opts.store) ~= "userdata" and type(opts.store) ~= "table" then store:close() end -- ours: close it
  if not run_ok then remove_tree(tmp) end
  -- the signals go back to their old handlers only once the cleanup is done: a second
  -- Ctrl-C during it is caught like the first, and the temporary folder always goes
  local caught, signame = host.signals_caught()
  host.signals_restore()
  if not run_ok then
    lock:unlock()
    if result == INTERRUPTED then
      return { interrupted = { signal = caught, name = signame } }
    end
    if type(result) == "table" and result.message then return nil, result.message end
    error(result, 0)
  end
  lock:unlock()
  if caught then result.late_signal = signame end
  return result
end

--- Run a replay (see `run_replay` above for opts and results). Its own handler for SIGINT,
-- SIGTERM and SIGHUP is in place from the first step: a signal caught while the run sets
-- up (the state it opens, the output folder it locks) stops it as one caught later does,
-- with what it made removed, instead of reaching lua5.4's handler, whose error would
-- leave them behind. The handlers go back once the run is over (run_replay restores them
-- after its cleanup; restoring twice does nothing).
function classify.run(opts)
  host.signals_catch()
  local ok, result, err = pcall(run_replay, opts)
  local caught, signame = host.signals_caught()
  host.signals_restore()
  if not ok then error(result, 0) end
  if result == nil and caught then -- stopped while setting up (a read cut short, say)
    return { interrupted = { signal = caught, name = signame } }
  end
  return result, err
end

return classify
