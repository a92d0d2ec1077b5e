-- tacdb_bench.lua — the TAC database from Lua (targets: docs/architecture.md "Targets"), for each file given:
--   load from text     imei.tacdb.load (LPeg parse, checks, builder, freeze), rows/s
--   save, open         db:save; imei.tacdb.open (mmap + full validation), best of 20
--   db:lookup(tac)     one C call per 8-digit TAC string (90% in the db, 10% not), every
--                      record table cached (db:cache(#db)); cold: no cache, a record
--                      table built per call; db:index(tac): the record number only
--   t[tac]             the peer: a plain Lua table keyed by TAC string, same queries
--   db:lookup(imei)    15-digit IMEIs; peer: t[imei:sub(1, 8)]
--   db:lookup_many     one bulk call over a newline-separated buffer of the IMEIs
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

  -- queries: TACs of the db, 10% random 8-digit strings; IMEIs built on them
  local tacs, peer = {}, {}
  for i = 1, #db do
    local rec = db:record(i)
    tacs[i] = rec.tac
    peer[rec.tac] = rec
  end
  local q, imeis = {}, {}
  for i = 1, N do
    q[i] = rnd(10) == 0 and ("%08d"):format(rnd(100000000)) or tacs[rnd(#tacs) + 1]
    imeis[i] = q[i] .. ("%06d%d"):format(rnd(1000000), rnd(10))
  end
  local buffer = table.concat(imeis, "\n")
  local lookup, index = db.lookup, db.index
  db:cache(#db)
  local found_db, found_peer = 0, 0
  local t_db = best(3, function()
    local f = 0
    for i = 1, N do
      if lookup(db, q[i]) then f = f + 1 end
    end
    found_db = f
  end)
  local t_peer = best(3, function()
    local f = 0
    for i = 1, N do
      if peer[q[i]] then f = f + 1 end
    end
    found_peer = f
  end)
  local t_index = best(3, function()
    for i = 1, N do index(db, q[i]) end
  end)
  db:cache(0)
  local t_cold = best(1, function()
    for i = 1, N // 10 do lookup(db, q[i]) end
  end) * 10
  db:cache(#db)
  local t_db_imei = best(3, function()
    for i = 1, N do lookup(db, imeis[i]) end
  end)
  local sub = string.sub
  local t_peer_imei = best(3, function()
    for i = 1, N do local _ = peer[sub(imeis[i], 1, 8)] end
  end)
  local counts
  local t_bulk = best(3, function() counts = db:lookup_many(buffer) end)
  local function mps(t) return N / t / 1e6 end
  print(("  db:lookup(tac)      %6.2f M/s  (%d found; records cached)"):format(mps(t_db), found_db))
  print(("  db:index(tac)       %6.2f M/s  (record number, no table)"):format(mps(t_index)))
  print(("  db:lookup, cold     %6.2f M/s  (db:cache(0): a record table built per call)"):format(mps(t_cold)))
  print(("  peer t[tac]         %6.2f M/s  (%d found)  -> db:lookup %.2fx the peer"):format(mps(t_peer), found_peer,
    t_peer / t_db))
  print(("  db:lookup(imei)     %6.2f M/s"):format(mps(t_db_imei)))
  print(("  peer t[imei:sub]    %6.2f M/s  -> db:lookup %.2fx the peer"):format(mps(t_peer_imei),
    t_peer_imei / t_db_imei))
  print(("  db:lookup_many      %6.2f M/s  (%d found, %d not, %d invalid)  -> %.2fx db:lookup(imei)"):format(
    mps(t_bulk), counts.found, counts.not_found, counts.invalid, t_db_imei / t_bulk))
  local function table_kb()
    collectgarbage()
    local before = collectgarbage("count")
    local copy = {}
    for i = 1, #tacs do copy[tacs[i]] = { tac = tacs[i] } end
    return collectgarbage("count") - before, copy
  end
  local kb = table_kb()
  print(("  memory              image %.1f MB outside the Lua heap (shared, mmap); a Lua table of %d bare"
    .. " records alone: %.1f MB of heap"):format(st.image_bytes / 2 ^ 20, #tacs, kb / 1024))
  db:close()
end

for i = 2, #arg do bench(arg[i]) end
