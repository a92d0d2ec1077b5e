-- tacdb_bench.lua — the TAC database from Lua (targets: docs/architecture.md "Targets"), for each file given:
--   load from text     imei.tacdb.load (LPeg parse, checks, builder, freeze), rows/s
--   save, open         db:save; imei.tacdb.open (mmap + full validation), best of 20
--   db:lookup(imei)    15-digit IMEIs, round robin over every TAC of the file (shuffled), on
--                      a freshly opened db at its default settings; the peer, in the same
--                      run and interleaved: a plain Lua table of record tables keyed by
--                      TAC, t[imei:sub(1, 8)]. First pass (records built) and best of 3.
--   memory             the Lua heap the db's record cache holds after those passes, and
--                      the peer table's; the TAC-string cache's after the db:lookup(tac) lines
--   db:lookup(tac)     8-digit TAC strings (90% in the db, 10% not), against t[tac], interleaved;
--                      db:index(tac): the record number only; no cache: db:cache(0)
--   db:lookup_many     one bulk call over a newline-separated buffer of IMEIs
-- Rates in M/s, best of 3 passes, CPU time (os.clock). Prints, asserts nothing.
-- Usage: lua5.4 bench/tacdb_bench.lua OUTDIR FILE...   (images go to OUTDIR)
local tacdb = require "imei.tacdb"

local N = 1000000
local outdir = assert(arg[1], "usage: lua5.4 bench/tacdb_bench.lua OUTDIR FILE...")

local seed = 88172645463325252
local function rnd(n)
  seed = seed ~ (seed << 13)
  seed = seed ~ (seed >> 7)
  seed = seed ~ (seed << 17)
  return (seed >> 1) % n
end

local function best(passes, fn)
  local b = math.huge
  for _ = 1, passes do
    local t0 = os.clock()
    fn()
    local dt = os.clock() - t0
    if dt < b then b = dt end
  end
  return b
end

local function bench(path)
  local name = path:match("([^/]+)$")
  local t0 = os.clock()
  local db, report = assert(tacdb.load(path))
  local load_s = os.clock() - t0
  local image = outdir .. "/" .. name:gsub("%.%w+$", "") .. ".tacdb"
  t0 = os.clock()
  assert(db:save(image))
  local save_s = os.clock() - t0
  local opens = {}
  for i = 1, 20 do
    local o0 = os.clock()
    local img = assert(tacdb.open(image))
    opens[i] = os.clock() - o0
    img:close()
  end
  table.sort(opens)
  local st = db:stats()
  print(("== tacdb (Lua) %s: %d rows, %d records, image %d bytes, index %.2f bytes per TAC"):format(
    name, report.rows, st.records, st.image_bytes, st.index_bytes_per_key))
  print(("  load from text      %.3f s (%.0f rows/s)"):format(load_s, report.rows / load_s))
  print(("  save image          %.3f s"):format(save_s))
  print(("  open image          %.2f ms best, %.2f ms median of 20 (tacdb.open: mmap + validation)"):format(
    opens[1] * 1e3, opens[11] * 1e3))

  -- The db under test is a fresh tacdb.open of the image, at its DEFAULT settings (no
  -- db:cache call): its record cache starts empty. The peer is a plain Lua table keyed by
  -- TAC holding its own copy of every record (built from another db object).
  local tacs, peer = {}, {}
  collectgarbage()
  local heap0 = collectgarbage("count")
  for i = 1, #db do
    local rec, copy = db:record(i), {}
    for k, v in pairs(rec) do copy[k] = v end
    tacs[i] = rec.tac
    peer[rec.tac] = copy
  end
  db:cache(0) -- the builder's db keeps no records: the peer's heap is its own
  db:cache(#db)
  collectgarbage()
  local peer_mb = (collectgarbage("count") - heap0) / 1024
  local fresh = assert(tacdb.open(image))
  local default_cache = fresh:cache()
  -- round robin over every TAC, in a shuffled order; 10% random 8-digit strings for the
  -- found / not-found mix of the TAC-string lines
  for i = #tacs, 2, -1 do
    local j = rnd(i) + 1
    tacs[i], tacs[j] = tacs[j], tacs[i]
  end
  local q, imeis, rr, rr1 = {}, {}, {}, {}
  for i = 1, N do
    local tac = tacs[(i - 1) % #tacs + 1]
    rr[i] = tac .. ("%06d%d"):format(rnd(1000000), rnd(10))
    rr1[i] = tac .. "1234560" -- one IMEI per TAC: few distinct strings
    q[i] = rnd(10) == 0 and ("%08d"):format(rnd(100000000)) or tacs[rnd(#tacs) + 1]
    imeis[i] = q[i] .. ("%06d%d"):format(rnd(1000000), rnd(10))
  end
  local buffer = table.concat(imeis, "\n")
  local lookup, index, sub = fresh.lookup, fresh.index, string.sub
  local function pass_db(list)
    local c0 = os.clock()
    for i = 1, N do
      if not lookup(fresh, list[i]) then error("not found: " .. list[i]) end
    end
    return os.clock() - c0
  end
  local function pass_peer(list)
    local c0 = os.clock()
    for i = 1, N do
      if not peer[sub(list[i], 1, 8)] then error("not found: " .. list[i]) end
    end
    return os.clock() - c0
  end
  collectgarbage()
  local heap1 = collectgarbage("count")
  local first_db, first_peer = pass_db(rr), pass_peer(rr)
  local t_db, t_peer, t_db1, t_peer1 = math.huge, math.huge, math.huge, math.huge
  for _ = 1, 3 do -- interleaved
    t_db = math.min(t_db, pass_db(rr))
    t_peer = math.min(t_peer, pass_peer(rr))
    t_db1 = math.min(t_db1, pass_db(rr1))
    t_peer1 = math.min(t_peer1, pass_peer(rr1))
  end
  collectgarbage()
  local cache_mb = (collectgarbage("count") - heap1) / 1024
  local function pass_tac()
    local c0 = os.clock()
    for i = 1, N do lookup(fresh, q[i]) end
    return os.clock() - c0
  end
  local function pass_peer_tac()
    local c0 = os.clock()
    for i = 1, N do local _ = peer[q[i]] end
    return os.clock() - c0
  end
  collectgarbage()
  local heap2 = collectgarbage("count")
  local first_tac = pass_tac() -- the string cache filled
  local t_tac, t_peer_tac = math.huge, math.huge
  for _ = 1, 5 do -- interleaved
    t_tac = math.min(t_tac, pass_tac())
    t_peer_tac = math.min(t_peer_tac, pass_peer_tac())
  end
  collectgarbage()
  local bystr_mb = (collectgarbage("count") - heap2) / 1024
  local t_index = best(3, function()
    for i = 1, N do index(fresh, q[i]) end
  end)
  fresh:cache(0)
  local t_cold = best(1, function()
    for i = 1, N // 10 do lookup(fresh, rr[i]) end
  end) * 10
  local counts
  local t_bulk = best(3, function() counts = fresh:lookup_many(buffer) end)
  local function mps(t) return N / t / 1e6 end
  print(("  round robin over all %d TACs, %d IMEIs a pass, db at its defaults (db:cache() = %d):"):format(#tacs, N,
    default_cache))
  print(("  db:lookup(imei)     %6.2f M/s best of 3 (first pass, records built: %.2f M/s)"):format(mps(t_db),
    mps(first_db)))
  print(("  peer t[imei:sub]    %6.2f M/s best of 3 (first pass %.2f M/s)  -> db:lookup %.2fx the peer"):format(
    mps(t_peer), mps(first_peer), t_peer / t_db))
  print(("  same, one IMEI per TAC (few distinct strings): db:lookup %.2f M/s, peer %.2f M/s -> %.2fx the peer"):format(
    mps(t_db1), mps(t_peer1), t_peer1 / t_db1))
  print(("  memory              db record cache %.1f MB of Lua heap after the passes; peer table %.1f MB;"
    .. " image %.1f MB outside the heap (mmap)"):format(cache_mb, peer_mb, st.image_bytes / 2 ^ 20))
  print(("  db:lookup(tac)      %6.2f M/s  best of 5 (90%% in the db, uniform; first pass %.2f M/s)"):format(
    mps(t_tac), mps(first_tac)))
  print(("  peer t[tac]         %6.2f M/s  best of 5, interleaved -> db:lookup %.2fx the peer"):format(mps(t_peer_tac),
    t_peer_tac / t_tac))
  print(("  memory              the TAC-string cache: %.1f MB of Lua heap more after those passes"):format(bystr_mb))
  print(("  db:index(tac)       %6.2f M/s  (record number, no table)"):format(mps(t_index)))
  print(("  db:lookup, no cache %6.2f M/s  (db:cache(0): a record table built per call)"):format(mps(t_cold)))
  print(("  db:lookup_many      %6.2f M/s  (%d found, %d not, %d invalid)  -> %.2fx db:lookup(imei)"):format(
    mps(t_bulk), counts.found, counts.not_found, counts.invalid, t_db / t_bulk))
  fresh:close()
  db:close()
end

for i = 2, #arg do bench(arg[i]) end
