--- decide_bench.lua — the decide phase of `imei classify` alone: the dumps are read and
-- recorded once, then every observed (device, IMSI) pair is decided by the policy
-- (host/replay_eval.c), ROUNDS times; prints the pairs, the wall and CPU seconds of each
-- round and the CPU microseconds per pair. CPU (os.clock: the process's, the idle main
-- thread included) is what a shared machine disturbs least: compare two builds by
-- running this script with each (ROOT) in the same script, interleaved; or count with
-- `perf stat -e instructions:u` and subtract a run with DECIDE_SKIP=1 set (it reads only).
--
--   lua5.4 bench/decide_bench.lua ROOT POLICY TACDB LISTS JOBS ROUNDS DUMP...
--   (ROOT: a checkout with its build/, e.g. . ; the policy path is relative to ROOT)
local root, policy_file, tacdb_path, lists_dir, jobs, rounds = arg[1], arg[2], arg[3], arg[4],
  tonumber(arg[5]), tonumber(arg[6])
local dump_paths = { table.unpack(arg, 7) }
if not (root and policy_file and tacdb_path and lists_dir and jobs and rounds and #dump_paths > 0) then
  io.stderr:write("usage: decide_bench.lua ROOT POLICY TACDB LISTS JOBS ROUNDS DUMP...\n")
  os.exit(2)
end
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
package.cpath = root .. "/build/?.so;" .. package.cpath

local host = require "imei.host"
local engine_mod = require "imei.engine"
local dumps = require "imei.classify.dumps"

local tacdb = assert(engine_mod.open_tacdb(tacdb_path))
local lists = assert(engine_mod.open_lists(lists_dir))
local policy = root .. "/" .. policy_file

local function wait(step)
  while true do
    local state, err = step(100)
    if not state then error(err) end
    if state == "done" then return end
  end
end

local function round()
  local store = assert(engine_mod.open_store("memory"))
  local engine = assert(engine_mod.new { policy = policy, tacdb = tacdb, lists = lists, store = store })
  local conditions = {}
  for _, c in ipairs(engine:info().conditions or {}) do
    conditions[#conditions + 1] = { name = c.name, status = c.status }
  end
  engine:close()
  local replay = assert(host.replay_new { store = store, tacdb = tacdb, reader_thread = jobs >= 2, readers = jobs })
  for _, path in ipairs(dump_paths) do
    local d = assert(dumps.describe(path))
    assert(replay:add_file(path, d.operator, d.first, d.last))
  end
  wait(function(ms) return replay:ingest(ms) end)
  local pairs_n = replay:totals().pairs
  local c0, t0 = os.clock(), host.monotime()
  if os.getenv("DECIDE_SKIP") then -- read only: what `perf stat` of this script counts besides deciding
    replay:close()
    return pairs_n, 0, 0
  end
  assert(replay:evaluate { policy = policy, tacdb = tacdb, lists = lists, store = store, threads = jobs,
                           conditions = conditions, lua_path = package.path })
  wait(function(ms) return replay:wait(ms) end)
  local cpu, wall = os.clock() - c0, host.monotime() - t0
  replay:close()
  return pairs_n, wall, cpu
end

for i = 1, rounds do
  local n, wall, cpu = round()
  print(("decide %s: %d pairs, %.3f s wall, %.3f s CPU, %.2f us CPU/pair (round %d, jobs %d)"):format(
    policy_file, n or -1, wall, cpu, cpu / (n or 1) * 1e6, i, jobs))
  io.stdout:flush()
  collectgarbage()
end
